--[[
  BullMQ handed this process the job with lock = token: start the attempt if the record agrees.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] token
      ARGV[5] workerId
      ARGV[6] leaseMs
    Output:
      { 'ok', record hash } | 'missing' | 'lost' | 'drop' (the record is final, or recovery made it final)
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local task = get('task')
local ord = get('ord')
-- Final, or parked by a workflow (a wake hands it to BullMQ again): BullMQ lets go of it.
if final(state) or state == 'waiting' then return 'drop' end
if state == 'running' then
  -- The previous holder's lease died before recovery saw it.
  if expire(id, task, ord, state) ~= 'queued' then return 'drop' end
  state = 'queued'
end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
move(id, task, ord, state, 'running')
-- The lease asked for, whatever the worker's default lock duration.
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('HSET', KEYS[1], 'token', ARGV[4], 'workerId', ARGV[5], 'startedAt', now, 'updatedAt', now, 'leaseUntil', tonumber(now) + tonumber(ARGV[6]), 'cancel', '0')
redis.call('HDEL', KEYS[1], 'finishedAt')
emit('started', cjson.encode({ workerId = ARGV[5], attempt = attempt }), attempt)
return { 'ok', redis.call('HGETALL', KEYS[1]) }
