--[[
  Gives a held job back without burning the attempt (graceful shutdown), fenced by the token.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] token
    Output:
      { 'ok', record hash } back in the queue | { 'final', record hash, woken } (a cancel was pending;
      woken as in finish.lua) | 'lost'
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if state ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local attempt = get('attempt')
if get('cancel') == '1' then
  -- A cancel was asked for while it ran: giving it back ends it.
  redis.call('HSET', KEYS[1], 'updatedAt', now, 'finishedAt', now, 'token', '', 'cancel', '0', 'error', CANCELLED)
  redis.call('HDEL', KEYS[1], 'leaseUntil')
  move(id, get('task'), get('ord'), state, 'cancelled')
  emit('cancelled', '{"error":' .. CANCELLED .. '}', attempt)
  childEnded(id, 'cancelled')
  return { 'final', redis.call('HGETALL', KEYS[1]), WOKEN }
end
redis.call('HINCRBY', KEYS[1], 'attempt', -1)
redis.call('HSET', KEYS[1], 'updatedAt', now, 'runAt', now, 'token', '')
redis.call('HDEL', KEYS[1], 'leaseUntil')
move(id, get('task'), get('ord'), state, 'queued')
emit('retrying', cjson.encode({ released = true, runAt = tonumber(now) }), attempt)
return { 'ok', redis.call('HGETALL', KEYS[1]) }
