/**
 * The Redis engine's state transitions, each one Lua script so a record, its indexes and the event
 * it emits change together or not at all. BullMQ moves the job between its own lists afterwards;
 * the record here stays the truth, and a job BullMQ hands out whose record says otherwise is
 * dropped at claim time (see `claimed`).
 *
 * Conventions: KEYS[1] = job hash, KEYS[2] = event stream, KEYS[3] = BullMQ lock (when used);
 * ARGV[1] = key prefix, ARGV[2] = now (epoch ms).
 */

const PRELUDE = `
local P = ARGV[1]
local now = ARGV[2]
local function move(id, task, ord, from, to)
  if from == to then return end
  if from and from ~= '' then
    redis.call('ZREM', P .. ':idx:s:' .. from, id)
    redis.call('ZREM', P .. ':idx:ts:' .. task .. ':' .. from, id)
  end
  redis.call('ZADD', P .. ':idx:s:' .. to, ord, id)
  redis.call('ZADD', P .. ':idx:ts:' .. task .. ':' .. to, ord, id)
  redis.call('HSET', KEYS[1], 'state', to)
end
local function emit(etype, data, attempt)
  local seq = redis.call('HINCRBY', KEYS[1], 'lastSeq', 1)
  redis.call('XADD', KEYS[2], seq .. '-0', 't', etype, 'd', data, 'a', now, 'n', attempt or '')
  return seq
end
local function get(field)
  return redis.call('HGET', KEYS[1], field)
end
local CANCELLED = '{"code":"TL_ERR_JOB_CANCELLED","message":"the job was cancelled"}'
local function final(state)
  return state == 'succeeded' or state == 'dead' or state == 'cancelled'
end
-- The lease ended without a finish (crash, lost lock): the attempt counts; retry or give up.
local function expire(id, task, ord, state)
  local attempt = tonumber(get('attempt') or '0')
  local maxAttempts = tonumber(get('maxAttempts') or '1')
  local wasCancelled = get('cancel') == '1'
  local err = cjson.encode({ code = 'TL_ERR_JOB_LEASE_LOST', message = 'the lease expired before the job finished (attempt ' .. attempt .. ' of ' .. maxAttempts .. ')' })
  redis.call('HSET', KEYS[1], 'error', err, 'updatedAt', now, 'token', '', 'cancel', '0')
  redis.call('HDEL', KEYS[1], 'leaseUntil')
  if wasCancelled then
    move(id, task, ord, state, 'cancelled')
    redis.call('HSET', KEYS[1], 'finishedAt', now, 'error', CANCELLED)
    emit('cancelled', '{"error":' .. CANCELLED .. '}', attempt)
    return 'cancelled'
  end
  if attempt >= maxAttempts then
    move(id, task, ord, state, 'dead')
    redis.call('HSET', KEYS[1], 'finishedAt', now)
    emit('dead', cjson.encode({ error = cjson.decode(err) }), attempt)
    return 'dead'
  end
  move(id, task, ord, state, 'queued')
  redis.call('HSET', KEYS[1], 'runAt', now)
  emit('retrying', cjson.encode({ error = cjson.decode(err), runAt = tonumber(now) }), attempt)
  return 'queued'
end
`;

/**
 * Creates a record (or returns the id already bound to the idempotency key).
 * ARGV: 3 id, 4 task, 5 input, 6 maxAttempts, 7 priority, 8 idemKey ('' = none), 9 runAt, 10 state, 11 enqueued event data
 * KEYS: 1 job, 2 events, 3 idem key (or a dummy)
 * Returns { created (1|0), id, record hash when not created }.
 */
export const ENQUEUE = `${PRELUDE}
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
move(id, ARGV[4], ord, nil, ARGV[10])
emit('enqueued', ARGV[11], 0)
return { 1, id }
`;

/**
 * BullMQ handed this process the job with lock = token: start the attempt if the record agrees.
 * ARGV: 3 id, 4 token, 5 workerId, 6 leaseMs
 * Returns { 'ok', record hash } | 'missing' | 'lost' | 'drop' (record is final, or recovery made it final).
 */
export const CLAIMED = `${PRELUDE}
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local task = get('task')
local ord = get('ord')
if final(state) then return 'drop' end
if state == 'running' then
  -- The previous holder's lease died before recovery saw it.
  if expire(id, task, ord, state) ~= 'queued' then return 'drop' end
  state = 'queued'
end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
move(id, task, ord, state, 'running')
-- The lease asked for, whatever the worker's default lock duration.
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('HSET', KEYS[1], 'token', ARGV[4], 'workerId', ARGV[5], 'startedAt', now, 'updatedAt', now, 'leaseUntil', tonumber(now) + tonumber(ARGV[6]), 'cancel', '0')
redis.call('HDEL', KEYS[1], 'finishedAt')
emit('started', cjson.encode({ workerId = ARGV[5], attempt = attempt }), attempt)
return { 'ok', redis.call('HGETALL', KEYS[1]) }
`;

/**
 * Extends the lease in the record (BullMQ's lock is extended just before).
 * ARGV: 3 token, 4 leaseUntil. Returns -1 when the lease is lost, else the cancel flag (0|1).
 */
export const RENEW = `${PRELUDE}
if get('state') ~= 'running' or get('token') ~= ARGV[3] or redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
redis.call('HSET', KEYS[1], 'leaseUntil', ARGV[4])
return tonumber(get('cancel') or '0')
`;

/**
 * Ends an attempt, fenced by the token (it must still hold BullMQ's lock).
 * ARGV: 3 id, 4 token, 5 outcome ('succeeded'|'retry'|'dead'|'cancelled'), 6 result or error JSON, 7 runAt (retry), 8 event data
 * Returns { 'ok', record hash } | 'lost'.
 */
export const FINISH = `${PRELUDE}
local id = ARGV[3]
local state = get('state')
if state ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local task = get('task')
local ord = get('ord')
local attempt = get('attempt')
local outcome = ARGV[5]
redis.call('HSET', KEYS[1], 'updatedAt', now, 'token', '', 'cancel', '0')
redis.call('HDEL', KEYS[1], 'leaseUntil')
if outcome == 'succeeded' then
  redis.call('HSET', KEYS[1], 'result', ARGV[6], 'finishedAt', now)
  redis.call('HDEL', KEYS[1], 'error')
  move(id, task, ord, state, 'succeeded')
  emit('succeeded', ARGV[8], attempt)
elseif outcome == 'retry' then
  redis.call('HSET', KEYS[1], 'error', ARGV[6], 'runAt', ARGV[7])
  if tonumber(ARGV[7]) > tonumber(now) then move(id, task, ord, state, 'delayed') else move(id, task, ord, state, 'queued') end
  emit('retrying', ARGV[8], attempt)
else
  redis.call('HSET', KEYS[1], 'error', ARGV[6], 'finishedAt', now)
  move(id, task, ord, state, outcome)
  emit(outcome, ARGV[8], attempt)
end
return { 'ok', redis.call('HGETALL', KEYS[1]) }
`;

/**
 * Cancels: a waiting job at once, a running one by raising its flag and telling its process.
 * ARGV: 3 id. Returns 'now' (cancelled by this call) | 'requested' | the final state it already had | 'missing'.
 */
export const CANCEL = `${PRELUDE}
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if final(state) then return state end
local task = get('task')
local ord = get('ord')
redis.call('HSET', KEYS[1], 'updatedAt', now)
if state == 'running' then
  -- Only a flag: the holder writes the job's events while it holds the lease (it writes cancel-requested).
  redis.call('HSET', KEYS[1], 'cancel', '1')
  redis.call('PUBLISH', P .. ':cancel', id)
  return 'requested'
end
redis.call('HSET', KEYS[1], 'finishedAt', now, 'error', CANCELLED)
move(id, task, ord, state, 'cancelled')
emit('cancelled', '{"error":' .. CANCELLED .. '}', get('attempt'))
return 'now'
`;

/**
 * Puts a dead or cancelled job back in the queue with a fresh set of attempts.
 * ARGV: 3 id. Returns 'ok' | 'missing' | the state that forbids it.
 */
export const RETRY = `${PRELUDE}
local id = ARGV[3]
local state = get('state')
if not state then return 'missing' end
if state ~= 'dead' and state ~= 'cancelled' then return state end
redis.call('HSET', KEYS[1], 'attempt', 0, 'runAt', now, 'updatedAt', now, 'cancel', '0', 'token', '', 'workerId', '')
redis.call('HDEL', KEYS[1], 'error', 'result', 'finishedAt', 'startedAt', 'leaseUntil')
move(id, get('task'), get('ord'), state, 'queued')
emit('enqueued', cjson.encode({ retry = true, from = state }), 0)
return 'ok'
`;

/**
 * Recovery for one running job whose lease expired (its BullMQ lock is gone).
 * ARGV: 3 id. Returns 'queued' | 'dead' | 'alive' (still leased or no longer running).
 */
export const RECOVER = `${PRELUDE}
local state = get('state')
if state ~= 'running' then return 'alive' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'alive' end
return expire(ARGV[3], get('task'), get('ord'), state)
`;

/**
 * Stores the lease holder's events with the seqs it assigned, fenced by its token. The batch must
 * continue the stored stream exactly (consecutive seqs from lastSeq + 1), else nothing is stored.
 * ARGV: 3 token, then (seq, type, data, at, attempt) quintuples.
 * Returns lastSeq, -1 when the token is stale, -2 - lastSeq when the batch does not follow the stream.
 */
export const APPEND = `${PRELUDE}
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
`;

/**
 * Gives a held job back without burning the attempt (graceful shutdown), fenced by the token.
 * ARGV: 3 id, 4 token. Returns { 'ok', record hash } | 'lost'.
 */
export const RELEASE = `${PRELUDE}
local id = ARGV[3]
local state = get('state')
if state ~= 'running' or get('token') ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'lost' end
local attempt = get('attempt')
if get('cancel') == '1' then
  -- A cancel was asked for while it ran: giving it back ends it.
  redis.call('HSET', KEYS[1], 'updatedAt', now, 'finishedAt', now, 'token', '', 'cancel', '0', 'error', CANCELLED)
  redis.call('HDEL', KEYS[1], 'leaseUntil')
  move(id, get('task'), get('ord'), state, 'cancelled')
  emit('cancelled', '{"error":' .. CANCELLED .. '}', attempt)
  return { 'final', redis.call('HGETALL', KEYS[1]) }
end
redis.call('HINCRBY', KEYS[1], 'attempt', -1)
redis.call('HSET', KEYS[1], 'updatedAt', now, 'runAt', now, 'token', '')
redis.call('HDEL', KEYS[1], 'leaseUntil')
move(id, get('task'), get('ord'), state, 'queued')
emit('retrying', cjson.encode({ released = true, runAt = tonumber(now) }), attempt)
return { 'ok', redis.call('HGETALL', KEYS[1]) }
`;

/**
 * Retention: deletes up to `limit` ended jobs (record, events, indexes, idempotency key) that
 * finished before their state's cut, oldest inserted first. No declared keys: every key is built
 * from the prefix, as the index keys of the other scripts are.
 * ARGV: 3 succeededBefore, 4 failedBefore (epoch ms, 0 = none), 5 limit
 */
export const PRUNE = `
local P = ARGV[1]
local cuts = { succeeded = tonumber(ARGV[3]), dead = tonumber(ARGV[4]), cancelled = tonumber(ARGV[4]) }
local limit = tonumber(ARGV[5])
local removed = 0
for _, state in ipairs({ 'succeeded', 'dead', 'cancelled' }) do
  local cut = cuts[state]
  if cut > 0 and removed < limit then
    local ids = redis.call('ZRANGE', P .. ':idx:s:' .. state, 0, (limit - removed) * 2 - 1)
    for _, id in ipairs(ids) do
      if removed >= limit then break end
      local job = P .. ':job:' .. id
      local f = redis.call('HMGET', job, 'finishedAt', 'task', 'idem', 'state')
      if not f[4] then
        -- An index entry whose record is gone: drop the entry.
        redis.call('ZREM', P .. ':idx:s:' .. state, id)
        redis.call('ZREM', P .. ':idx:all', id)
      elseif f[4] == state and f[1] and tonumber(f[1]) < cut then
        local task = f[2] or ''
        redis.call('DEL', job, P .. ':ev:' .. id)
        redis.call('ZREM', P .. ':idx:all', id)
        redis.call('ZREM', P .. ':idx:s:' .. state, id)
        redis.call('ZREM', P .. ':idx:t:' .. task, id)
        redis.call('ZREM', P .. ':idx:ts:' .. task .. ':' .. state, id)
        if f[3] and f[3] ~= '' and redis.call('GET', P .. ':idem:' .. f[3]) == id then
          redis.call('DEL', P .. ':idem:' .. f[3])
        end
        removed = removed + 1
      end
    end
  end
end
return removed
`;
