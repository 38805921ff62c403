--[[
  Replaces a reservation by what the answer used: adds (used - reserved), never below 0. A window
  that already expired is left alone (its minute is over).
  KEYS[1] = the window counter (<prefix>:tpm:<key>:<minute>)
  ARGV[1] = used - reserved (may be negative)
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v < 0 then
  redis.call('SET', KEYS[1], 0, 'KEEPTTL')
  return 0
end
return v
