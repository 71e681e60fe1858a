-- The cache-warming compare-and-set (consumers/src/workers/cache_warming/update.rs explains
-- versions and field groups).
-- KEYS[1]: the order's hash. ARGV[1]: the event's version; ARGV[2]: TTL in seconds;
-- ARGV[3..5]: updated_at, event_id, event_type; then per group: its version field, its field
-- count n, and n field/value pairs.
-- Returns 1 when anything changed, 0 when every group already held a version at least as new
-- (the TTL is then left alone too).
-- Versions are fixed-width strings of 0-9a-f, so `<` on them orders by time, then event id.
local key, version = KEYS[1], ARGV[1]
local changes = {}
local i = 6
while i <= #ARGV do
  local vfield, n = ARGV[i], tonumber(ARGV[i + 1])
  local stored = redis.call('HGET', key, vfield)
  if not stored or stored < version then
    changes[#changes + 1] = vfield
    changes[#changes + 1] = version
    for j = i + 2, i + 1 + 2 * n do
      changes[#changes + 1] = ARGV[j]
    end
  end
  i = i + 2 + 2 * n
end
if #changes == 0 then
  return 0
end
local newest = redis.call('HGET', key, 'version')
if not newest or newest < version then
  changes[#changes + 1] = 'version'
  changes[#changes + 1] = version
  changes[#changes + 1] = 'updated_at'
  changes[#changes + 1] = ARGV[3]
  changes[#changes + 1] = 'event_id'
  changes[#changes + 1] = ARGV[4]
  changes[#changes + 1] = 'event_type'
  changes[#changes + 1] = ARGV[5]
end
redis.call('HSET', key, unpack(changes))
redis.call('EXPIRE', key, ARGV[2])
return 1
