--[[
  Shared by every script but prune (each includes this file by name): the key prefix and
  clock, the index move, event append and expiry helpers.
    Expects:
      KEYS[1] job hash
      KEYS[2] event stream
      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
]]
local P = ARGV[1]
local now = ARGV[2]
local function move(id, task, ord, from, to)
  if from == to then return end
  if from and from ~= '' then
    redis.call('ZREM', P .. ':idx:s:' .. from, id)
    redis.call('ZREM', P .. ':idx:ts:' .. task .. ':' .. from, id)
  end
  redis.call('ZADD', P .. ':idx:s:' .. to, ord, id)
  redis.call('ZADD', P .. ':idx:ts:' .. task .. ':' .. to, ord, id)
  redis.call('HSET', KEYS[1], 'state', to)
end
local function emit(etype, data, attempt)
  local seq = redis.call('HINCRBY', KEYS[1], 'lastSeq', 1)
  redis.call('XADD', KEYS[2], seq .. '-0', 't', etype, 'd', data, 'a', now, 'n', attempt or '')
  return seq
end
local function get(field)
  return redis.call('HGET', KEYS[1], field)
end
local CANCELLED = '{"code":"TL_ERR_JOB_CANCELLED","message":"the job was cancelled"}'
local function final(state)
  return state == 'succeeded' or state == 'dead' or state == 'cancelled'
end
-- The lease ended without a finish (crash, lost lock): the attempt counts; retry or give up.
local function expire(id, task, ord, state)
  local attempt = tonumber(get('attempt') or '0')
  local maxAttempts = tonumber(get('maxAttempts') or '1')
  local wasCancelled = get('cancel') == '1'
  local err = cjson.encode({ code = 'TL_ERR_JOB_LEASE_LOST', message = 'the lease expired before the job finished (attempt ' .. attempt .. ' of ' .. maxAttempts .. ')' })
  redis.call('HSET', KEYS[1], 'error', err, 'updatedAt', now, 'token', '', 'cancel', '0')
  redis.call('HDEL', KEYS[1], 'leaseUntil')
  if wasCancelled then
    move(id, task, ord, state, 'cancelled')
    redis.call('HSET', KEYS[1], 'finishedAt', now, 'error', CANCELLED)
    emit('cancelled', '{"error":' .. CANCELLED .. '}', attempt)
    return 'cancelled'
  end
  if attempt >= maxAttempts then
    move(id, task, ord, state, 'dead')
    redis.call('HSET', KEYS[1], 'finishedAt', now)
    emit('dead', cjson.encode({ error = cjson.decode(err) }), attempt)
    return 'dead'
  end
  move(id, task, ord, state, 'queued')
  redis.call('HSET', KEYS[1], 'runAt', now)
  emit('retrying', cjson.encode({ error = cjson.decode(err), runAt = tonumber(now) }), attempt)
  return 'queued'
end
