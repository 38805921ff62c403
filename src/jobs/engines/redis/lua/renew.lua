--[[
  Extends the lease in the record (BullMQ's lock is extended just before).
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] token
      ARGV[4] leaseUntil
    Output:
      -1 the lease is lost | the cancel flag (0 | 1)
]]
--- @include "prelude"
if get('state') ~= 'running' or get('token') ~= ARGV[3] or redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], 'leaseUntil', ARGV[4])
return tonumber(get('cancel') or '0')
