--[[
  Creates a record (or returns the id already bound to the idempotency key).
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] idempotency key (the job hash again when there is none)

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
      ARGV[4] task
      ARGV[5] input JSON
      ARGV[6] maxAttempts
      ARGV[7] priority
      ARGV[8] idempotency key ('' = none)
      ARGV[9] runAt
      ARGV[10] state ('queued' | 'delayed')
      ARGV[11] enqueued event data JSON
      ARGV[12] owner: client key name ('' = none)
      ARGV[13] owner: tenant ('' = none)
    Output:
      { 1, id } created | { 0, existing id, its record hash }
]]
--- @include "prelude"
local id = ARGV[3]
if ARGV[8] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return { 0, existing, redis.call('HGETALL', P .. ':job:' .. existing) } end
  redis.call('SET', KEYS[3], id)
end
local ord = redis.call('INCR', P .. ':idx:ord')
redis.call('HSET', KEYS[1], 'id', id, 'task', ARGV[4], 'input', ARGV[5], 'attempt', 0, 'maxAttempts', ARGV[6],
  'priority', ARGV[7], 'idem', ARGV[8], 'createdAt', now, 'updatedAt', now, 'runAt', ARGV[9], 'lastSeq', 0, 'ord', ord, 'cancel', '0')
redis.call('ZADD', P .. ':idx:all', ord, id)
redis.call('ZADD', P .. ':idx:t:' .. ARGV[4], ord, id)
if ARGV[12] and ARGV[12] ~= '' then
  redis.call('HSET', KEYS[1], 'ownerKey', ARGV[12])
  redis.call('ZADD', P .. ':idx:o:' .. ARGV[12], ord, id)
end
if ARGV[13] and ARGV[13] ~= '' then
  redis.call('HSET', KEYS[1], 'ownerTenant', ARGV[13])
  redis.call('ZADD', P .. ':idx:ten:' .. ARGV[13], ord, id)
end
move(id, ARGV[4], ord, nil, ARGV[10])
emit('enqueued', ARGV[11], 0)
return { 1, id }
