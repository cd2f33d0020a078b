"""The Lua scripts of the cluster: each change of ownership or snapshot is one script,
so it is atomic (Redis runs a script alone) and costs one round trip.

Epochs come from one counter (``P epoch``) that never expires, so an epoch is greater
than every one issued before for any session, even after a session's records expired.
The counter is also kept at or above Redis's clock in milliseconds (``TIME``): should
Redis lose its data (a restart without persistence), the epochs issued next are still
greater than the ones a paused machine may hold, unless claims ran faster than one per
millisecond for longer than the outage.

A key of another type than the script expects is refused before anything is written,
with an error that names it (``livetag-corrupt``), never overwritten.
"""

from __future__ import annotations

_HELPERS = """
local function check_hash(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'hash' and kind ~= 'none' then
    error('livetag-corrupt: expected a hash or nothing at ' .. key .. ', got a ' .. kind)
  end
end
local function next_epoch(counter)
  local n = redis.call('INCR', counter)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if n < now then
    redis.call('SET', counter, string.format('%d', now))
    n = now
  end
  return string.format('%d', n)
end
local function keep_for(key, ms)
  if redis.call('PTTL', key) < tonumber(ms) then redis.call('PEXPIRE', key, ms) end
end
"""

#: KEYS: owner record, epoch counter. ARGV: claim ttl (ms). Returns the new epoch
#: (a string). Unconditional: the caller becomes the owner, with no machine named.
CLAIM = _HELPERS + """
check_hash(KEYS[1])
local e = next_epoch(KEYS[2])
redis.call('HSET', KEYS[1], 'e', e, 'o', '', 'i', '')
keep_for(KEYS[1], ARGV[1])
return e
"""

#: KEYS: owner record, snapshot. ARGV: epoch, data, ttl (ms), layout, claim ttl (ms).
#: Returns {1, saved_at} or, fenced, {0, current epoch}.
SAVE = _HELPERS + """
check_hash(KEYS[1])
check_hash(KEYS[2])
local e = redis.call('HGET', KEYS[1], 'e')
if e ~= ARGV[1] then return {0, e or '0'} end
local t = redis.call('TIME')
local at = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', KEYS[2], 'd', ARGV[2], 'e', ARGV[1], 't', at, 'v', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
keep_for(KEYS[1], ARGV[5])
return {1, at}
"""

#: KEYS: machine record, machine set. ARGV: id, incarnation, relay, lease (ms), started.
#: Returns {1, ''} when renewed with no gap, {0, ''} when (re)created (first heartbeat, or
#: the lease had lapsed), {-1, other incarnation} when another live machine has this id.
REGISTER = _HELPERS + """
check_hash(KEYS[1])
local current = redis.call('HGET', KEYS[1], 'i')
if current and current ~= ARGV[2] then return {-1, current} end
redis.call('HSET', KEYS[1], 'i', ARGV[2], 'r', ARGV[3], 's', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
if current then return {1, ''} end
return {0, ''}
"""

#: KEYS: machine record, machine set. ARGV: id, incarnation. Returns 1 when it left.
LEAVE = """
if redis.call('TYPE', KEYS[1])['ok'] == 'hash' and redis.call('HGET', KEYS[1], 'i') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

#: KEYS: machine set. ARGV: machine key prefix. Returns a flat list of (id, incarnation,
#: relay, started) of the live machines; drops the ids whose record expired. A record
#: of another type is skipped (and left alone): listing never fails on one bad key.
MACHINES = """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then
    redis.call('SREM', KEYS[1], id)
  elseif kind == 'hash' then
    local f = redis.call('HMGET', key, 'i', 'r', 's')
    if f[1] then
      table.insert(out, id)
      table.insert(out, f[1])
      table.insert(out, f[2] or '')
      table.insert(out, f[3] or '0')
    end
  end
end
return out
"""

_OWNER_LIVE = """
local function live(prefix, owner, incarnation)
  if not owner or owner == '' then return false end
  local key = prefix .. owner
  if redis.call('TYPE', key)['ok'] ~= 'hash' then return false end
  return redis.call('HGET', key, 'i') == incarnation
end
"""

#: KEYS: owner record, epoch counter, the claimant's machine record. ARGV: machine id,
#: incarnation, claim ttl (ms), machine key prefix. Returns {1, epoch} when granted,
#: {0, epoch, owner, incarnation} when a live machine owns the session, {-1} when the
#: claimant itself is not registered (its lease lapsed).
CLAIM_FREE = _HELPERS + _OWNER_LIVE + """
check_hash(KEYS[1])
if not live(ARGV[4], ARGV[1], ARGV[2]) then return {-1} end
local f = redis.call('HMGET', KEYS[1], 'o', 'i', 'e')
if not (f[1] == ARGV[1] and f[2] == ARGV[2]) and live(ARGV[4], f[1], f[2]) then
  return {0, f[3] or '0', f[1], f[2]}
end
local e = next_epoch(KEYS[2])
redis.call('HSET', KEYS[1], 'e', e, 'o', ARGV[1], 'i', ARGV[2])
keep_for(KEYS[1], ARGV[3])
return {1, e}
"""

#: KEYS: owner record. ARGV: machine key prefix. Returns {epoch, owner, incarnation,
#: live (0/1)}, with epoch '0' when the session has no record.
OWNER_OF = _HELPERS + _OWNER_LIVE + """
check_hash(KEYS[1])
local f = redis.call('HMGET', KEYS[1], 'e', 'o', 'i')
local alive = 0
if live(ARGV[1], f[2], f[3]) then alive = 1 end
return {f[1] or '0', f[2] or '', f[3] or '', alive}
"""

#: KEYS: owner record. ARGV: machine id, incarnation, epoch, claim ttl (ms), machine key
#: prefix. Returns 1 (and keeps the record for another claim ttl) when the machine is
#: live and owns the session at that epoch, else 0.
OWNS = _HELPERS + _OWNER_LIVE + """
check_hash(KEYS[1])
local f = redis.call('HMGET', KEYS[1], 'e', 'o', 'i')
if f[1] == ARGV[3] and f[2] == ARGV[1] and f[3] == ARGV[2] and live(ARGV[5], ARGV[1], ARGV[2]) then
  keep_for(KEYS[1], ARGV[4])
  return 1
end
return 0
"""

#: KEYS: owner record. ARGV: machine id, incarnation, epoch. Returns 1 when released
#: (the session has no owner; its epoch stays), 0 when it was not this owner's.
RELEASE = _HELPERS + """
check_hash(KEYS[1])
local f = redis.call('HMGET', KEYS[1], 'e', 'o', 'i')
if f[1] == ARGV[3] and f[2] == ARGV[1] and f[3] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'o', '', 'i', '')
  return 1
end
return 0
"""
