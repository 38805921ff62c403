--[[
  Shared by every script but prune and format (each includes this file by name): the key prefix
  and clock, the index move, event append and expiry helpers, and the workflow helpers
  (workflow.lua: waking a parked job, a child's end reaching its parent).
    Expects:
      KEYS[1] job hash
      KEYS[2] event stream
      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
]]
local P = ARGV[1]
local now = ARGV[2]
local function moveJob(key, id, task, ord, from, to)
  if from == to then return end
  if from and from ~= '' then
    redis.call('ZREM', P .. ':idx:s:' .. from, id)
    redis.call('ZREM', P .. ':idx:ts:' .. task .. ':' .. from, id)
  end
  redis.call('ZADD', P .. ':idx:s:' .. to, ord, id)
  redis.call('ZADD', P .. ':idx:ts:' .. task .. ':' .. to, ord, id)
  redis.call('HSET', key, 'state', to)
  -- Per-owner counters (fields <state>:<task>), kept once owner-counts.lua has built them.
  local owner = redis.call('HMGET', key, 'ownerKey', 'ownerTenant')
  for i, kind in ipairs({ ':cnt:o:', ':cnt:ten:' }) do
    local name = owner[i]
    if name and name ~= '' and redis.call('EXISTS', P .. kind .. name) == 1 then
      if from and from ~= '' then redis.call('HINCRBY', P .. kind .. name, from .. ':' .. task, -1) end
      redis.call('HINCRBY', P .. kind .. name, to .. ':' .. task, 1)
    end
  end
end
local function move(id, task, ord, from, to)
  moveJob(KEYS[1], id, task, ord, from, to)
end
local function emitTo(key, stream, etype, data, attempt)
  local seq = redis.call('HINCRBY', key, 'lastSeq', 1)
  redis.call('XADD', stream, seq .. '-0', 't', etype, 'd', data, 'a', now, 'n', attempt or '')
  return seq
end
local function emit(etype, data, attempt)
  return emitTo(KEYS[1], KEYS[2], etype, data, attempt)
end
local function get(field)
  return redis.call('HGET', KEYS[1], field)
end
local CANCELLED = '{"code":"TL_ERR_JOB_CANCELLED","message":"the job was cancelled"}'
local function final(state)
  return state == 'succeeded' or state == 'dead' or state == 'cancelled'
end
-- Workflows. WOKEN collects the jobs a script moved from waiting to queued, as (id, task,
-- priority) triples; the script returns them and the caller hands each to BullMQ.
local WOKEN = {}
local function wakeJob(id, by, name)
  local key = P .. ':job:' .. id
  local f = redis.call('HMGET', key, 'state', 'task', 'ord', 'priority', 'attempt')
  if f[1] ~= 'waiting' then return false end
  moveJob(key, id, f[2], f[3], 'waiting', 'queued')
  redis.call('HSET', key, 'runAt', now, 'updatedAt', now)
  redis.call('HDEL', key, 'waitingFor', 'waitKind', 'waitName')
  redis.call('ZREM', P .. ':wake', id)
  redis.call('DEL', P .. ':join:' .. id)
  local data = name and cjson.encode({ by = by, name = name }) or cjson.encode({ by = by })
  emitTo(key, P .. ':ev:' .. id, 'woken', data, f[5])
  WOKEN[#WOKEN + 1] = id
  WOKEN[#WOKEN + 1] = f[2]
  WOKEN[#WOKEN + 1] = f[4] or '0'
  return true
end
-- The job of KEYS[1] just ended (final state): its parent hears it. A parent held by an attempt
-- gets `child.ended` at its next park (only the holder writes its stream while it holds it); a
-- parent waiting for its children is woken by the last of them.
local function childEnded(id, state)
  local parent = get('parentId')
  if not parent or parent == '' then return end
  local pkey = P .. ':job:' .. parent
  local pf = redis.call('HMGET', pkey, 'state', 'attempt', 'waitKind')
  if not pf[1] or final(pf[1]) then return end
  local ev = { id = id, task = get('task'), state = state }
  local err = get('error')
  if state ~= 'succeeded' and err and err ~= '' then ev.error = cjson.decode(err) end
  local data = cjson.encode(ev)
  if pf[1] == 'running' then
    redis.call('RPUSH', P .. ':pend:' .. parent, data)
  else
    emitTo(pkey, P .. ':ev:' .. parent, 'child.ended', data, pf[2])
  end
  if pf[1] == 'waiting' and pf[3] == 'children' then
    local join = P .. ':join:' .. parent
    redis.call('SREM', join, id)
    if redis.call('SCARD', join) == 0 then wakeJob(parent, 'children') end
  end
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
    childEnded(id, 'cancelled')
    return 'cancelled'
  end
  if attempt >= maxAttempts then
    move(id, task, ord, state, 'dead')
    redis.call('HSET', KEYS[1], 'finishedAt', now)
    emit('dead', cjson.encode({ error = cjson.decode(err) }), attempt)
    childEnded(id, 'dead')
    return 'dead'
  end
  move(id, task, ord, state, 'queued')
  redis.call('HSET', KEYS[1], 'runAt', now)
  emit('retrying', cjson.encode({ error = cjson.decode(err), runAt = tonumber(now) }), attempt)
  return 'queued'
end
