--[[
  Stores the lease holder's events with the seqs it assigned, fenced by its token. The batch must
  continue the stored stream exactly (consecutive seqs from lastSeq + 1), else nothing is stored.
    Input:
      KEYS[1] job hash
      KEYS[2] event stream

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] token
      ARGV[4...] (seq, type, data JSON, at, attempt) quintuples
    Output:
      lastSeq | -1 the token is stale | -2 - lastSeq the batch does not follow the stream
]]
--- @include "prelude"
if get('token') ~= ARGV[3] or get('state') ~= 'running' then return -1 end
local last = tonumber(get('lastSeq') or '0')
for i = 4, #ARGV, 5 do
  if tonumber(ARGV[i]) ~= last + 1 + (i - 4) / 5 then return -2 - last end
end
local progress = nil
for i = 4, #ARGV, 5 do
  redis.call('XADD', KEYS[2], ARGV[i] .. '-0', 't', ARGV[i + 1], 'd', ARGV[i + 2], 'a', ARGV[i + 3], 'n', ARGV[i + 4])
  last = tonumber(ARGV[i])
  if ARGV[i + 1] == 'progress' then progress = ARGV[i + 2] end
end
redis.call('HSET', KEYS[1], 'lastSeq', last)
if progress then redis.call('HSET', KEYS[1], 'progress', progress) end
return last
