--[[
  One owner's job counts (a client key's or a tenant's), as fields <state>:<task> of a counter
  hash that every index move keeps (prelude.lua moveJob) and retention decrements. Built here on
  first use by one walk of the owner's index (O(that owner's jobs), once per prefix and owner);
  from then on reading it is one HGETALL.
    Input:
      KEYS[1] counter hash (P:cnt:o:<key> or P:cnt:ten:<tenant>)
      KEYS[2] the owner's index (P:idx:o:<key> or P:idx:ten:<tenant>)

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
    Output:
      the counter hash, flat (field `_` marks it built)
]]
local P = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], '_', '1')
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', P .. ':job:' .. id, 'state', 'task')
    if f[1] then redis.call('HINCRBY', KEYS[1], f[1] .. ':' .. f[2], 1) end
  end
end
return redis.call('HGETALL', KEYS[1])
