--[[
  Reserves tokens in a key's minute window unless that passes the limit (limits.tokensPerMinute).
  A reservation alone in an empty window always passes: it could never run otherwise.
  KEYS[1] = the window counter (<prefix>:tpm:<key>:<minute>)
  ARGV[1] = tokens to reserve, ARGV[2] = the limit, ARGV[3] = the window's life in ms
  Returns { 1 = reserved | 0 = refused, tokens used in the window before this call }
]]
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(ARGV[1])
if used > 0 and used + tokens > tonumber(ARGV[2]) then
  return { 0, used }
end
redis.call('INCRBY', KEYS[1], tokens)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return { 1, used }
