--[[
  Holds a new (or retried) job in its limit group: out of BullMQ until gate.lua admits it. Sent in
  one MULTI right after enqueue.lua, so a job of a limited task is never dispatched unchecked.
    Input:
      KEYS[1] job hash
      KEYS[2] the group's held set
      KEYS[3] the set of groups that hold jobs

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] group
      ARGV[5] order score (priority first, then runAt; equal scores go by the member: insertion order, then id)
      ARGV[6] member of the groups set
    Output:
      1 held | 0 not (the idempotency key named another job, or the job is not queued)
]]
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[3] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'grp', ARGV[4], 'held', '1')
redis.call('ZADD', KEYS[2], ARGV[5], string.format('%015d', tonumber(redis.call('HGET', KEYS[1], 'ord') or '0')) .. ':' .. ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[6])
return 1
