--[[
  move-due: the delayed mover's step (docs/wire-format.md#delayed-delivery). Moves up to `max`
  delayed messages whose due time has come into their queues, each removed from its delayed set
  and pushed in this one atomic call, so a crash before, during or after it neither loses nor
  duplicates a message, and two movers never move the same one.

  A message goes to the BACK of its priority sub-list (LPUSH, as a publish at its due time would
  store it), and the queue's kelp arguments apply then, exactly as route-and-push-0.lua applies
  them to a publish (this script repeats its policy functions: scripts cannot share code):
  `x-expires` gives a list the move creates the queue's expiry; `x-message-ttl` stamps the deadline (the TTL counts from the due time); a length limit with
  `x-overflow` reject-publish refuses a message that does not fit, which is dead-lettered with the
  reason "maxlen" on x-dead-letter queues, else dropped and counted; drop-head pushes and drops the
  head until the queue fits. A member not in kelp's "<step>|<envelope>" form, or a push that
  fails (a key of the wrong type), goes to the queue's dead-letter list with the reason.

  Queues are found through the delayed index (queue scored by its earliest due time), which is
  set to the queue's new earliest due time, or cleared, after each queue's batch.

  No KEYS (the queues are read from the index; Kombu's layout is not cluster-friendly). So on a
  Redis Cluster whose slot is MIGRATING, the node refuses a command on a key it does not hold
  ("non local key") in the middle of the script, and keeps what the script wrote before. Each
  member is therefore moved as: every key it may write is read first (redis.pcall), a refusal
  ends the call with an error before any write for it; then the push; the ZREM from the delayed
  set last. Members moved before a refusal are complete; the rest wait for the next call.
  ARGV[1]   global key prefix ("" when none)
  ARGV[2]   sep (priority sub-list suffix of step s > 0 is sep .. s)
  ARGV[3]   the delayed index key (prefixed)
  ARGV[4]   prefix of the delayed sets (RedisKeys.delayedKey without the queue)
  ARGV[5]   now, epoch milliseconds (the client's clock, as the publish's due time)
  ARGV[6]   max messages to move in this call
  ARGV[7]   prefix of the queue argument hashes (RedisKeys.queueArgumentsKey without the queue)
  ARGV[8]   dead-letter list suffix (RedisKeys.deadLetterKey is prefix .. queue .. this)
  ARGV[9]   prefix of the drop-count hashes (RedisKeys.droppedKey without the reason)
  ARGV[10]  JSON array of the priority sub-list suffixes in consume order ("" first)
  ARGV[11]  (optional) "1" in the sharded cluster layout: the index names queues as their hash
            tag `{<q>}` (so every key built here is in the queue's slot), the drop-count hash is
            the queue's own (ARGV[9] .. reason .. "." .. `{<q>}`), and records name the queue `<q>`

  Returns {moved, next}: how many messages left a delayed set, and the earliest due time still
  in the index (epoch ms, as text) or "" when nothing waits.
]]
local prefix, sep, index, delayed_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now_ms, max = tonumber(ARGV[5]), tonumber(ARGV[6])
local arguments_prefix, dead_suffix, dropped_prefix = ARGV[7], ARGV[8], ARGV[9]
local sharded = ARGV[11] == "1"

-- The drop-count hash of `queue`: the global one, or the queue's own in its slot (sharded).
local function dropped_key(queue, reason)
  if sharded then return dropped_prefix .. reason .. "." .. queue end
  return dropped_prefix .. reason
end

local function dead_letter(queue, payload, reason)
  local name = queue
  if sharded then name = string.sub(queue, 2, -2) end
  redis.call("LPUSH", prefix .. queue .. dead_suffix, cjson.encode({reason = reason, queue = name, payload = payload, time = now_ms / 1000}))
end

-- As route-and-push-0.lua: each queue's enforced arguments, or false when it has none.
local policies = {}
local function policy_of(queue)
  local policy = policies[queue]
  if policy == nil then
    local v = redis.pcall("HMGET", arguments_prefix .. queue, "x-message-ttl", "x-max-length", "x-max-length-bytes", "x-overflow", "x-dead-letter", "x-expires")
    if v.err then return nil, v.err end
    policy = false
    if v[1] or v[2] or v[3] or v[6] then
      policy = {ttl = tonumber(v[1]), max_len = tonumber(v[2]), max_bytes = tonumber(v[3]), reject = v[4] == "reject-publish", dead = v[5] == "1", expires = tonumber(v[6])}
      policy.limited = policy.max_len ~= nil or policy.max_bytes ~= nil
    end
    policies[queue] = policy
  end
  return policy
end

-- As route-and-push-0.lua: the deadline as the envelope's first member, the earlier kept.
local STAMP = '{"x-kelp-expires-at":'
local function with_deadline(envelope, ttl)
  local at = string.format("%.0f", now_ms + ttl)
  local current = string.match(envelope, '^{"x%-kelp%-expires%-at":(%d+),')
  if current then
    if tonumber(current) <= tonumber(at) then return envelope end
    return STAMP .. at .. string.sub(envelope, #STAMP + #current + 1)
  end
  local rest = string.match(envelope, "^{%s*(.*)$")
  if not rest or string.sub(rest, 1, 1) == "}" then return envelope end
  return STAMP .. at .. "," .. rest
end

-- As route-and-push-0.lua: a limited queue's lists, waiting messages and their bytes.
local suffixes = nil
local levels = {}
local function level_of(queue, policy)
  local level = levels[queue]
  if level then return level end
  suffixes = suffixes or cjson.decode(ARGV[10])
  level = {count = 0, bytes = 0, keys = {}}
  for n, suffix in ipairs(suffixes) do
    local key = prefix .. queue .. suffix
    level.keys[n] = key
    if policy.max_bytes then
      for _, envelope in ipairs(redis.call("LRANGE", key, 0, -1)) do
        level.count = level.count + 1
        level.bytes = level.bytes + #envelope
      end
    else
      level.count = level.count + redis.call("LLEN", key)
    end
  end
  levels[queue] = level
  return level
end

local function over(policy, level, count, bytes)
  return (policy.max_len and level.count + count > policy.max_len) or (policy.max_bytes and level.bytes + bytes > policy.max_bytes)
end

local function drop(queue, policy, payload)
  if policy.dead then
    dead_letter(queue, payload, "maxlen")
  else
    redis.call("HINCRBY", dropped_key(queue, "maxlen"), prefix .. queue .. dead_suffix, 1)
  end
end

-- The refusal of the first key of `keys` the node will not serve, or nil: a read of each, so a
-- member is refused before its first write (see the header). Once the node has served a key it
-- does not hold, the slot is not migrating (it refuses exactly those), and cannot start to within
-- this call: every key (all in the prefix's one slot) is served, and the probes stop.
local slot_open = false
local function refused(keys)
  if slot_open then return nil end
  for _, key in ipairs(keys) do
    local reply = redis.pcall("EXISTS", key)
    if type(reply) == "table" and reply.err then return reply.err end
    if reply == 0 then slot_open = true end
  end
  return nil
end

-- Pushes one due envelope to key (queue's sub-list) under the queue's arguments; every key it
-- writes was probed by the caller.
local function move_one(queue, key, envelope, policy)
  if policy and policy.ttl then envelope = with_deadline(envelope, policy.ttl) end
  local level = nil
  if policy and policy.limited then
    level = level_of(queue, policy)
    if policy.reject and over(policy, level, 1, #envelope) then
      drop(queue, policy, envelope)
      return
    end
  end
  local reply = redis.pcall("LPUSH", key, envelope)
  if type(reply) == "table" and reply.err then
    dead_letter(queue, envelope, "delayed message could not be moved: " .. reply.err)
    return
  end
  -- x-expires: a list the move creates gets the queue's expiry (a move is not use of the queue).
  if policy and policy.expires and redis.call("PTTL", key) == -1 then redis.call("PEXPIRE", key, policy.expires) end
  if not level then return end
  level.count = level.count + 1
  level.bytes = level.bytes + #envelope
  while not policy.reject and over(policy, level, 0, 0) do
    local head = nil
    for _, list in ipairs(level.keys) do
      -- pcall: a sub-list this loop emptied is gone, and a migrating node refuses a missing key.
      head = redis.pcall("RPOP", list)
      if type(head) ~= "string" then head = nil end
      if head then break end
    end
    if not head then break end
    level.count = level.count - 1
    level.bytes = level.bytes - #head
    drop(queue, policy, head)
  end
end

-- Every key one member of `queue` may write: its sub-list, the dead-letter list, the drop
-- counter, and a limited queue's other sub-lists (drop-head pops them).
local function keys_of(queue, target, policy)
  local keys = {target, prefix .. queue .. dead_suffix, dropped_key(queue, "maxlen")}
  if policy and policy.limited then
    suffixes = suffixes or cjson.decode(ARGV[10])
    for _, suffix in ipairs(suffixes) do keys[#keys + 1] = prefix .. queue .. suffix end
  end
  return keys
end

local moved = 0
local function refusal(err)
  return redis.error_reply("delayed move refused before its first write (moved " .. moved .. " this call): " .. err)
end

for _, queue in ipairs(redis.call("ZRANGEBYSCORE", index, "-inf", now_ms, "LIMIT", 0, max)) do
  if moved >= max then break end
  local set = delayed_prefix .. queue
  local members = redis.pcall("ZRANGEBYSCORE", set, "-inf", now_ms, "LIMIT", 0, max - moved)
  if members.err then return refusal(members.err) end
  for _, member in ipairs(members) do
    local policy, err = policy_of(queue)
    if err then return refusal(err) end
    local bar = string.find(member, "|", 1, true)
    local step = bar and string.sub(member, 1, bar - 1)
    local target = nil
    if step and string.match(step, "^%d+$") then
      local suffix = ""
      if step ~= "0" then suffix = sep .. step end
      target = prefix .. queue .. suffix
    end
    err = refused(keys_of(queue, target or (prefix .. queue), policy))
    if err then return refusal(err) end
    if target then
      move_one(queue, target, string.sub(member, bar + 1), policy)
    else
      dead_letter(queue, member, "delayed entry is not <step>|<envelope>")
    end
    -- Last: until here a refusal or a crash leaves the member where it was.
    redis.call("ZREM", set, member)
    moved = moved + 1
  end
  -- pcall: a set this call emptied is gone, and a migrating node refuses a missing key.
  local head = redis.pcall("ZRANGE", set, 0, 0, "WITHSCORES")
  if type(head) == "table" and head[2] then
    redis.call("ZADD", index, head[2], queue)
  else
    redis.pcall("ZREM", index, queue)
  end
end
local next_due = redis.pcall("ZRANGE", index, 0, 0, "WITHSCORES")
if type(next_due) ~= "table" or next_due.err then next_due = {} end
return {moved, next_due[2] or ""}
