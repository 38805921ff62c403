--[[
  Reads the format version recorded under the prefix and, when asked, raises an older one to
  this binary's. A prefix that holds jobs but no version is version 1 (written before versions).
    Input:
      KEYS[1] meta hash (P:meta)

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] the format version this binary writes
      ARGV[4] '1' = record ARGV[3] when the prefix is older (or new), '0' = only read
    Output:
      { version found (0 = an empty prefix), version recorded now }
]]
local P = ARGV[1]
local mine = tonumber(ARGV[3])
local found = tonumber(redis.call('HGET', KEYS[1], 'format') or '0')
if found == 0 and redis.call('EXISTS', P .. ':idx:ord') == 1 then found = 1 end
if found > mine then return { found, found } end
if found < mine and ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'format', mine, 'migratedAt', ARGV[2], 'migratedFrom', found)
  return { found, mine }
end
return { found, found }
