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
      ARGV[14] parent job id ('' = none; the child is listed under P:kids:<parent>, spawn order)
      ARGV[15] traceparent of the span that made the job ('' = none)
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
redis.call('HSET', KEYS[1], 'id', id, 'task', ARGV[4], 'input', ARGV[5], 'maxAttempts', ARGV[6],
  'priority', ARGV[7], 'createdAt', now, 'runAt', ARGV[9], 'lastSeq', 1, 'ord', ord)
-- Only what differs from the defaults readers assume (attempt 0, updatedAt = createdAt, no
-- idempotency key, no cancel request): a queued job is two index entries and a short hash.
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'idem', ARGV[8]) end
if ARGV[12] and ARGV[12] ~= '' then
  redis.call('HSET', KEYS[1], 'ownerKey', ARGV[12])
  redis.call('ZADD', P .. ':idx:o:' .. ARGV[12], ord, id)
end
if ARGV[13] and ARGV[13] ~= '' then
  redis.call('HSET', KEYS[1], 'ownerTenant', ARGV[13])
  redis.call('ZADD', P .. ':idx:ten:' .. ARGV[13], ord, id)
end
if ARGV[14] and ARGV[14] ~= '' then
  redis.call('HSET', KEYS[1], 'parentId', ARGV[14])
  redis.call('RPUSH', P .. ':kids:' .. ARGV[14], id)
end
if ARGV[15] and ARGV[15] ~= '' then redis.call('HSET', KEYS[1], 'traceparent', ARGV[15]) end
move(id, ARGV[4], ord, nil, ARGV[10])
-- The enqueued event (seq 1) stays in the record: no stream for a job nobody has emitted to yet
-- (a stream costs some 4.8 KB in Redis). Readers rebuild it from createdAt (event-log.ts).
if ARGV[11] ~= '{}' then
  redis.call('XADD', KEYS[2], '1-0', 't', 'enqueued', 'd', ARGV[11], 'a', now, 'n', 0)
end
return { 1, id }
