--[[
  Wakes waiting jobs whose time has come (a sleep's end, a signal wait's timeout): queued now,
  `woken { by: 'time' }`. At most ARGV[3] per call, earliest first.
    Input:
      KEYS[1] the wake set (P:wake: waiting job ids scored by runAt)

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] limit
    Output:
      woken: (id, task, priority) triples
]]
--- @include "prelude"
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))) do
  local f = redis.call('HMGET', P .. ':job:' .. id, 'state', 'runAt')
  if f[1] == 'waiting' and tonumber(f[2]) <= tonumber(now) then
    wakeJob(id, 'time')
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return WOKEN
