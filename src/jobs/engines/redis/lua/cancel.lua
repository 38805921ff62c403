--[[
  Cancels: a waiting job at once, a running one by raising its flag and telling its process.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
    Output:
      'now' (cancelled by this call) | 'requested' | the final state it already had | 'missing';
      { 'now', woken } when the cancel woke a parent waiting for its children (see finish.lua)
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if final(state) then return state end
local task = get('task')
local ord = get('ord')
redis.call('HSET', KEYS[1], 'updatedAt', now)
if state == 'running' then
  -- Only a flag: the holder writes the job's events while it holds the lease (it writes cancel-requested).
  redis.call('HSET', KEYS[1], 'cancel', '1')
  redis.call('PUBLISH', P .. ':cancel', id)
  return 'requested'
end
redis.call('HSET', KEYS[1], 'finishedAt', now, 'error', CANCELLED)
if state == 'waiting' then
  redis.call('HDEL', KEYS[1], 'waitingFor', 'waitKind', 'waitName')
  redis.call('ZREM', P .. ':wake', id)
  redis.call('DEL', P .. ':join:' .. id)
end
move(id, task, ord, state, 'cancelled')
emit('cancelled', '{"error":' .. CANCELLED .. '}', get('attempt') or 0)
childEnded(id, 'cancelled')
if #WOKEN > 0 then return { 'now', WOKEN } end
return 'now'
