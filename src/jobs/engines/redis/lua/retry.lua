--[[
  Puts a dead or cancelled job back in the queue with a fresh set of attempts.
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
emit('enqueued', cjson.encode({ retry = true, from = state }), 0)
return 'ok'
