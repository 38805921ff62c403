--[[
  Keeps a signal for a job (in arrival order, until the job takes it); a job waiting for this
  name is woken (queued now, `woken { by: 'signal', name }`).
    Input:
      KEYS[1] job hash
      KEYS[2] event stream

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] name
      ARGV[5] payload JSON
    Output:
      { 'ok', record hash, woken } | 'missing' | the final state that refuses it
]]
--- @include "prelude"
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if final(state) then return state end
-- The payload stays the caller's JSON text (cjson would rewrite numbers and empty objects).
redis.call('RPUSH', P .. ':sig:' .. id, cjson.encode({ n = ARGV[4], p = ARGV[5] }))
redis.call('HSET', KEYS[1], 'updatedAt', now)
if state == 'waiting' and get('waitKind') == 'signal' and get('waitName') == ARGV[4] then wakeJob(id, 'signal', ARGV[4]) end
return { 'ok', redis.call('HGETALL', KEYS[1]), WOKEN }
