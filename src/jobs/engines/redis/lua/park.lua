--[[
  Parks the attempt holding the token (ctx.sleep, waitForSignal, join), fenced by the token and
  BullMQ's lock: journal entries stored, child ends kept while it ran written, lease and token
  dropped, attempt - 1 (the next claim continues it), state waiting, `waiting` event. A wait that
  is already over (a kept signal of that name, every child ended, the time passed) goes on to
  queued in the same step with `woken` after `waiting`. A cancel asked for while it ran ends it.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] token
      ARGV[5] waitingFor JSON
      ARGV[6] kind ('sleep' | 'signal' | 'children')
      ARGV[7] signal name ('' unless kind is signal)
      ARGV[8] runAt: when time wakes it (epoch ms; Number.MAX_SAFE_INTEGER = never)
      ARGV[9] child ids JSON array ('[]' unless kind is children)
      ARGV[10...] (entry key, entry JSON) journal pairs
    Output:
      { state after ('waiting' | 'queued' | 'cancelled'), record hash, woken } | 'lost'
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if state ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local task = get('task')
local ord = get('ord')
local attempt = get('attempt')
local journal = P .. ':jr:' .. id
for i = 10, #ARGV, 2 do redis.call('HSET', journal, ARGV[i], ARGV[i + 1]) end
local pend = P .. ':pend:' .. id
for _, data in ipairs(redis.call('LRANGE', pend, 0, -1)) do emit('child.ended', data, attempt) end
redis.call('DEL', pend)
redis.call('HSET', KEYS[1], 'updatedAt', now, 'token', '')
redis.call('HDEL', KEYS[1], 'leaseUntil')
if get('cancel') == '1' then
  redis.call('HSET', KEYS[1], 'finishedAt', now, 'cancel', '0', 'error', CANCELLED)
  move(id, task, ord, state, 'cancelled')
  emit('cancelled', '{"error":' .. CANCELLED .. '}', attempt)
  childEnded(id, 'cancelled')
  return { 'cancelled', redis.call('HGETALL', KEYS[1]), WOKEN }
end
local kind = ARGV[6]
local runAt = ARGV[8]
redis.call('HINCRBY', KEYS[1], 'attempt', -1)
redis.call('HSET', KEYS[1], 'runAt', runAt, 'waitingFor', ARGV[5], 'waitKind', kind, 'waitName', ARGV[7])
move(id, task, ord, state, 'waiting')
emit('waiting', '{"waitingFor":' .. ARGV[5] .. '}', attempt)
local over, name = nil, nil
if kind == 'signal' then
  for _, raw in ipairs(redis.call('LRANGE', P .. ':sig:' .. id, 0, -1)) do
    if cjson.decode(raw).n == ARGV[7] then
      over, name = 'signal', ARGV[7]
      break
    end
  end
elseif kind == 'children' then
  -- The children still running; each one's end takes itself out, the last one wakes the parent.
  local join = P .. ':join:' .. id
  redis.call('DEL', join)
  for _, child in ipairs(cjson.decode(ARGV[9])) do
    local st = redis.call('HGET', P .. ':job:' .. child, 'state')
    if st and not final(st) then redis.call('SADD', join, child) end
  end
  if redis.call('SCARD', join) == 0 then over = 'children' end
end
if not over and tonumber(runAt) < 9007199254740991 then
  if tonumber(runAt) <= tonumber(now) then
    over = 'time'
  else
    redis.call('ZADD', P .. ':wake', runAt, id)
  end
end
if over then wakeJob(id, over, name) end
return { get('state'), redis.call('HGETALL', KEYS[1]), WOKEN }
