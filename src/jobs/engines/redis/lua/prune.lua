--[[
  Retention: deletes up to `limit` ended jobs (record, events, indexes, idempotency key, workflow
  journal, kept signals, list of children) that finished before their state's cut, oldest
  inserted first. No declared keys: every key is built from the prefix, as the index keys of the
  other scripts are.
    Input:
      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] succeededBefore (epoch ms, 0 = none)
      ARGV[4] failedBefore (epoch ms, 0 = none)
      ARGV[5] limit
    Output:
      the number of jobs deleted
]]
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
      local f = redis.call('HMGET', job, 'finishedAt', 'task', 'idem', 'state', 'ownerKey', 'ownerTenant')
      if not f[4] then
        -- An index entry whose record is gone: drop the entry.
        redis.call('ZREM', P .. ':idx:s:' .. state, id)
        redis.call('ZREM', P .. ':idx:all', id)
      elseif f[4] == state and f[1] and tonumber(f[1]) < cut then
        local task = f[2] or ''
        redis.call('DEL', job, P .. ':ev:' .. id, P .. ':jr:' .. id, P .. ':sig:' .. id, P .. ':kids:' .. id, P .. ':pend:' .. id, P .. ':join:' .. id)
        redis.call('ZREM', P .. ':wake', id)
        redis.call('ZREM', P .. ':idx:all', id)
        redis.call('ZREM', P .. ':idx:s:' .. state, id)
        redis.call('ZREM', P .. ':idx:t:' .. task, id)
        redis.call('ZREM', P .. ':idx:ts:' .. task .. ':' .. state, id)
        if f[5] then redis.call('ZREM', P .. ':idx:o:' .. f[5], id) end
        if f[6] then redis.call('ZREM', P .. ':idx:ten:' .. f[6], id) end
        -- The owner counters (owner-counts.lua), where built.
        for i, kind in ipairs({ ':cnt:o:', ':cnt:ten:' }) do
          local name = f[4 + i]
          if name and name ~= '' and redis.call('EXISTS', P .. kind .. name) == 1 then
            redis.call('HINCRBY', P .. kind .. name, state .. ':' .. task, -1)
          end
        end
        if f[3] and f[3] ~= '' and redis.call('GET', P .. ':idem:' .. f[3]) == id then
          redis.call('DEL', P .. ':idem:' .. f[3])
        end
        removed = removed + 1
      end
    end
  end
end
return removed
