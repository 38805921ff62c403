--[[
  Admits a limit group's held jobs as far as its limits allow (tasklane's own per-key groups:
  open-source BullMQ limits only a whole queue). Self-cleaning: admitted jobs that ended leave
  the active set here, held jobs no longer queued (cancelled) leave the held set.
    Input:
      KEYS[1] the group's held set (score: priority first, then runAt; member: '<insertion order>:<id>')
      KEYS[2] the group's active set (admitted, not ended; only with a concurrency limit)
      KEYS[3] the group's admissions in the rate window, each scored by its job's start once it started (only with a rate limit)
      KEYS[4] the set of groups that hold jobs

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] concurrency limit (0 = none)
      ARGV[4] rate limit (0 = none)
      ARGV[5] rate period, ms
      ARGV[6] member of the groups set
    Output:
      { jobs still held, next time a held job may be admitted (-1 = when a slot frees), id, priority, id, priority... }
]]
local P = ARGV[1]
local now = tonumber(ARGV[2])
local conc, rate, period = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function job(id) return P .. ':job:' .. id end
local function ended(st) return not st or st == 'succeeded' or st == 'dead' or st == 'cancelled' end

local free = 1e18
if conc > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    -- Ended, or held again (a retry by hand): no longer takes a slot.
    local h = redis.call('HMGET', job(id), 'state', 'held')
    if ended(h[1]) or h[2] == '1' then redis.call('ZREM', KEYS[2], id) end
  end
  free = conc - redis.call('ZCARD', KEYS[2])
end
local used, oldest = 0, nil
if rate > 0 then
  -- Claims lag admissions: an admission counts from its job's start once the job started.
  local flat = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
  for i = 1, #flat, 2 do
    local started = tonumber(redis.call('HGET', job(flat[i]), 'startedAt') or '')
    if started and started > tonumber(flat[i + 1]) then redis.call('ZADD', KEYS[3], started, flat[i]) end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - period)
  used = redis.call('ZCARD', KEYS[3])
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if first[2] then oldest = tonumber(first[2]) end
  free = math.min(free, rate - used)
end

local out = { 0, -1 }
local admitted, soonest = 0, nil
if free > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, 199)) do
    if admitted >= free then break end
    local id = string.match(member, '^%d+:(.+)$') or member
    local h = redis.call('HMGET', job(id), 'state', 'runAt', 'priority', 'held')
    if h[1] ~= 'queued' or h[4] ~= '1' then
      redis.call('ZREM', KEYS[1], member)
    elseif tonumber(h[2]) > now then
      if not soonest or tonumber(h[2]) < soonest then soonest = tonumber(h[2]) end
    else
      redis.call('ZREM', KEYS[1], member)
      redis.call('HDEL', job(id), 'held')
      redis.call('HSET', job(id), 'updatedAt', now)
      if conc > 0 then redis.call('ZADD', KEYS[2], now, id) end
      if rate > 0 then redis.call('ZADD', KEYS[3], now, id) end
      admitted = admitted + 1
      out[#out + 1] = id
      out[#out + 1] = h[3] or '0'
    end
  end
end

local held = redis.call('ZCARD', KEYS[1])
if held == 0 then redis.call('ZREM', KEYS[4], ARGV[6]) else redis.call('ZADD', KEYS[4], 0, ARGV[6]) end
out[1] = held
if held > 0 then
  if rate > 0 and used + admitted >= rate then
    out[2] = (oldest or now) + period
  elseif soonest and (conc == 0 or free - admitted > 0) then
    out[2] = soonest
  end
end
return out
