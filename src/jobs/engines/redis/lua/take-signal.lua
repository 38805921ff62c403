--[[
  Takes the oldest kept signal of a name for the attempt holding the token, fenced by the token
  and BullMQ's lock, and stores its journal entry (completed, result = the payload) in the same
  step, so a signal is used once and a replay finds it in the journal.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] token
      ARGV[5] name
      ARGV[6] entry key
      ARGV[7] entry JSON without its closing brace, ending in `"result":` (the payload goes after)
    Output:
      { 1, payload JSON } | { 0 } none kept | 'lost'
]]
--- @include "prelude"
local id = ARGV[3]
if get('state') ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local list = P .. ':sig:' .. id
for _, raw in ipairs(redis.call('LRANGE', list, 0, -1)) do
  local s = cjson.decode(raw)
  if s.n == ARGV[5] then
    redis.call('LREM', list, 1, raw)
    redis.call('HSET', P .. ':jr:' .. id, ARGV[6], ARGV[7] .. s.p .. '}')
    return { 1, s.p }
  end
end
return { 0 }
