--[[
  Recovery for one running job whose lease expired (its BullMQ lock is gone).
    Input:
      KEYS[1] job hash
      KEYS[2] event stream
      KEYS[3] BullMQ lock of the job

      ARGV[1] key prefix
      ARGV[2] now (epoch ms)
      ARGV[3] id
    Output:
      'queued' | 'dead' | 'cancelled' | 'alive' (still leased, or no longer running);
      { 'dead' | 'cancelled', woken } when the end woke a parent waiting for its children
]]
--- @include "prelude"
local state = get('state')
if state ~= 'running' then return 'alive' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'alive' end
local res = expire(ARGV[3], get('task'), get('ord'), state)
if #WOKEN > 0 then return { res, WOKEN } end
return res
