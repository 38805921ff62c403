--[[
  Stores workflow journal entries of the attempt holding the token (a later entry with the same
  key replaces the earlier), fenced by the token and BullMQ's lock.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] token
      ARGV[5...] (entry key, entry JSON) pairs
    Output:
      1 | 'lost'
]]
--- @include "prelude"
if get('state') ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local journal = P .. ':jr:' .. ARGV[3]
for i = 5, #ARGV, 2 do redis.call('HSET', journal, ARGV[i], ARGV[i + 1]) end
return 1
