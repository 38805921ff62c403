--[[
  Puts a dead or cancelled job back in the queue with a fresh set of attempts, its failed
  workflow journal entries dropped (P:jr:<id>).
    Input:
      KEYS[1] job hash
      KEYS[2] event stream

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
    Output:
      'ok' | 'missing' | the state that forbids it
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if state ~= 'dead' and state ~= 'cancelled' then return state end
redis.call('HSET', KEYS[1], 'attempt', 0, 'runAt', now, 'updatedAt', now, 'cancel', '0', 'token', '', 'workerId', '')
redis.call('HDEL', KEYS[1], 'error', 'result', 'finishedAt', 'startedAt', 'leaseUntil')
move(id, get('task'), get('ord'), state, 'queued')
-- Its failed workflow entries run again; completed ones are replayed (engine.ts, retry).
local journal = P .. ':jr:' .. id
local flat = redis.call('HGETALL', journal)
for i = 1, #flat, 2 do
  local ok, entry = pcall(cjson.decode, flat[i + 1])
  if ok and type(entry) == 'table' and entry.status == 'failed' then redis.call('HDEL', journal, flat[i]) end
end
emit('enqueued', cjson.encode({ retry = true, from = state }), 0)
return 'ok'
