--[[
  Ends an attempt, fenced by the token (it must still hold BullMQ's lock).
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] token
      ARGV[5] outcome ('succeeded' | 'retry' | 'dead' | 'cancelled')
      ARGV[6] result or error JSON
      ARGV[7] runAt (retry)
      ARGV[8] event data JSON
    Output:
      { 'ok', record hash, woken } | 'lost'; woken: (id, task, priority) of the jobs this end woke
      (a parent waiting for its children), for the caller to hand to BullMQ
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if state ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local task = get('task')
local ord = get('ord')
local attempt = get('attempt')
local outcome = ARGV[5]
redis.call('HSET', KEYS[1], 'updatedAt', now, 'token', '', 'cancel', '0')
redis.call('HDEL', KEYS[1], 'leaseUntil')
if outcome == 'succeeded' then
  redis.call('HSET', KEYS[1], 'result', ARGV[6], 'finishedAt', now)
  redis.call('HDEL', KEYS[1], 'error')
  move(id, task, ord, state, 'succeeded')
  emit('succeeded', ARGV[8], attempt)
  childEnded(id, 'succeeded')
elseif outcome == 'retry' then
  redis.call('HSET', KEYS[1], 'error', ARGV[6], 'runAt', ARGV[7])
  if tonumber(ARGV[7]) > tonumber(now) then move(id, task, ord, state, 'delayed') else move(id, task, ord, state, 'queued') end
  emit('retrying', ARGV[8], attempt)
else
  redis.call('HSET', KEYS[1], 'error', ARGV[6], 'finishedAt', now)
  move(id, task, ord, state, outcome)
  emit(outcome, ARGV[8], attempt)
  childEnded(id, outcome)
end
return { 'ok', redis.call('HGETALL', KEYS[1]), WOKEN }
