--[[
  Moves a schedule's latest tick forward (never back), with the job made for it.
    Input:
      KEYS[1] the schedule's hash

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] schedule name
      ARGV[4] tick (epoch ms)
      ARGV[5] job id ('' = none: the tick was skipped)
    Output:
      1 moved | 0 an equal or later tick was already stored
]]
local cur = tonumber(redis.call('HGET', KEYS[1], 'lastTickAt') or '-1')
if tonumber(ARGV[4]) < cur then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[3], 'lastTickAt', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'lastJobId', ARGV[5]) end
return 1
