--[[
  route-and-push: the publishes of one tick in one step. Kombu's publish is SMEMBERS
  _kombu.binding.<ex> (the routing lookup) then LPUSH per matching queue: two round trips per
  message. Here the lookup and the pushes run on the server, for many messages at once; what is
  stored (the envelope bytes, the priority sub-list, the key layout) is exactly what Kombu stores.
  Each binding set is read once per call; the call is atomic, so that is what consecutive
  SMEMBERS would have returned.

  Direct exchanges (and the anonymous exchange) route here. Topic patterns are regular
  expressions that Lua cannot match as Python's re does, so the client matches them against a
  cached copy of the binding set and sends the queues with that copy (mode "t"); the script
  pushes only if the set is still exactly that copy, else answers "stale" and the client reads
  the set again. Routing therefore always uses the bindings as they are at push time.

  Messages come in runs: consecutive publishes to the same destination (mode, target, rk,
  suffix). A run is routed once and pushed with one multi-value LPUSH per queue (LPUSH k a b c
  stores exactly what LPUSH k a; LPUSH k b; LPUSH k c does), which is most of the server's
  saving over one push per message. Each distinct destination is sent and answered once per
  call, so publishes alternating between queues cost one argument each, not five.

  A queue's kelp argument hash (ARGV[4] .. queue) is read once per call (one HMGET):
  - `x-message-ttl`: its envelopes get the deadline now + ttl as their first member,
    `{"x-kelp-expires-at":<ms>,...` (an earlier deadline already there stays), as
    message-expiry.ts writes it; every other queue gets the bytes as sent;
  - `x-max-length` / `x-max-length-bytes` (waiting messages over every priority sub-list / the
    byte length of their stored envelopes, read once per call, so a bytes limit costs an LRANGE of
    the queue): with `x-overflow` "reject-publish" a push that would go over is not made and the
    message is reported rejected; otherwise (drop-head) the push is made and the next messages to
    be consumed (RPOP of the lowest sub-list first) go until the queue fits: to its dead-letter
    list with the reason "maxlen" when `x-dead-letter` is "1", else counted in the drop-count hash
    (field = the dead-letter key). A run that fits whole is pushed as to any queue (one LPUSH);
    one that does not, one LPUSH per envelope;
  - `x-expires`: a publish is not use of the queue (RabbitMQ), so it never extends a list's
    expiry, but a list the push creates gets one (PEXPIRE when it has none), else a queue
    emptied and then published to would never expire (docs/wire-format.md#queue-expiry).

  No KEYS (the queues are only known after the lookup; Kombu's layout is not cluster-friendly).
  So on a Redis Cluster whose slot is MIGRATING, the node refuses a command on a key it does not
  hold ("non local key") in the middle of the script and keeps what was written before. Both
  paths therefore read every key the call may write before the first push: the single publish
  reads each queue's argument hash (redis.call: a refusal ends the call with nothing written);
  the general path reads (redis.pcall) each queue's argument hash, sub-list and, for a queue with
  arguments, its dead-letter list, drop counter and other sub-lists, and answers an error reply
  before any push when one is refused, so a publish is never partly stored and then rejected.
  (In the sharded cluster layout, where one call's queues sit in several slots, a refusal fails
  only the publishes to that queue, before any write to it: see the probes below.)
  ARGV[1]  global key prefix ("" when none), prepended to queue names
  ARGV[2]  sep (binding members are <rk> sep <pattern> sep <queue>)
  ARGV[3]  JSON object: prefixed binding set key -> the members the client routed with (mode t)
  ARGV[4]  prefix of the queue argument hashes (RedisKeys.queueArgumentsKey without the queue)
  ARGV[5]  now, Unix time in milliseconds (the client's clock, as the pop's)
  ARGV[6]  JSON array of the priority sub-list suffixes in consume order ("" first)
  ARGV[7]  dead-letter list suffix (RedisKeys.deadLetterKey is prefix .. queue .. this)
  ARGV[8]  prefix of the drop-count hashes (RedisKeys.droppedKey without the reason)
  ARGV[9]  D, the number of distinct destinations; then 4 fields per destination:
    mode      "q": push to the queue named by target; "d": route target (a binding set key) by rk;
              "t": push to the queues in rk if set target still holds exactly ARGV[3][target]
    target    queue name (mode q) or prefixed binding set key (modes d, t)
    rk        routing key (mode d) or JSON array of queue names (mode t)
    suffix    priority sub-list suffix: "" for step 0, else sep .. step
  then the plan: "<destination>,<count>,<destination>,<count>..." (1-based destination), one
  pair per run in publish order; then one payload per run:
    count 1: the envelope; more: the envelopes joined by "\n" (the client joins only envelopes
    without a newline; compact JSON never has one outside its strings, and inside them JSON
    escapes it)
  then, optionally (the sharded cluster layout only), the drop-count separator: each queue then
  counts its drops in a hash of its own, ARGV[8] .. reason .. this .. queue (the queue name as its
  keys spell it, `{<q>}`, so the hash is in the queue's slot), where without it every queue
  counts in the one hash ARGV[8] .. reason (field = the dead-letter key in both)

  Returns {results, [from, to, error]...}: results holds one entry per destination, 1 (mode q),
  the array of queues reached (modes d, t; empty when nothing matched) or "stale" (mode t,
  nothing pushed); each triple says that messages from..to (1-based, in publish order) failed
  with that error reply (e.g. WRONGTYPE), so a failing push fails only the publishes it carried,
  or, as "!rejected:<queue>", that queue refused them (reject-publish).
]]
local prefix = ARGV[1]
local sep = ARGV[2]
local arguments_prefix = ARGV[4]
local now_ms = tonumber(ARGV[5])
local dead_suffix = ARGV[7]
local dropped_prefix = ARGV[8]
-- ARGV index of the first destination field.
local FIRST = 10

-- The single publish (one destination, one run of one message) to a queue or a direct route:
-- what a producer awaiting each publish, or a paced one, sends every time. When no queue it
-- reaches has kelp arguments (the usual case), it is the lookup, the pushes and the reply, ahead
-- of every table and function of the general path below, which cost Redis more than the push
-- itself (docs/performance.md#costs-behind-the-design). A queue with arguments takes the
-- general path, which applies them.
if ARGV[9] == "1" and ARGV[14] == "1,1" and (ARGV[10] == "q" or ARGV[10] == "d") then
  local target, envelope, suffix = ARGV[11], ARGV[15], ARGV[13]
  local queues
  if ARGV[10] == "q" then
    queues = {target}
  else
    -- Kombu's get_table (members split into exactly rk, pattern, queue) filtered by rk,
    -- de-duplicated in set order, as table_of and route do below.
    local rk, seen = ARGV[12], {}
    queues = {}
    for _, member in ipairs(redis.call("SMEMBERS", target)) do
      local first = string.find(member, sep, 1, true)
      if first and string.sub(member, 1, first - 1) == rk then
        local second = string.find(member, sep, first + #sep, true)
        if second then
          local queue = string.sub(member, second + #sep)
          if not seen[queue] then
            seen[queue] = true
            queues[#queues + 1] = queue
          end
        end
      end
    end
  end
  local plain = true
  for _, queue in ipairs(queues) do
    if redis.call("EXISTS", ARGV[4] .. queue) == 1 then
      plain = false
      break
    end
  end
  if plain then
    local failed = nil
    for _, queue in ipairs(queues) do
      local reply = redis.pcall("LPUSH", prefix .. queue .. suffix, envelope)
      if not failed and type(reply) == "table" and reply.err then failed = reply end
    end
    local result = queues
    if ARGV[10] == "q" then result = 1 end
    if failed then return {{result}, 1, 1, failed} end
    return {{result}}
  end
end

-- The drop-count separator after the last payload (see the header), or nil: known once the
-- plan is read, before the first probe or push.
local drop_separator = nil
-- The queue's name as users spell it: the sharded layout's keys spell it `{<q>}`.
local function plain_name(queue)
  if drop_separator then return string.sub(queue, 2, -2) end
  return queue
end
-- The hash counting queue's maxlen drops: its own in the sharded layout, else the shared one.
local function dropped_key(queue)
  if drop_separator then return dropped_prefix .. "maxlen" .. drop_separator .. queue end
  return dropped_prefix .. "maxlen"
end

-- Each queue's enforced arguments, or false when it has none: read once per call.
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

-- message-expiry.ts withDeadline: the deadline as the envelope's first member, the earlier kept.
local STAMP = '{"x-kelp-expires-at":'
-- now + ttl as the stamp writes it, once per TTL and call.
local deadlines = {}
local function deadline_of(ttl)
  local at = deadlines[ttl]
  if not at then
    at = string.format("%.0f", now_ms + ttl)
    deadlines[ttl] = at
  end
  return at
end
local function with_deadline(envelope, ttl)
  local at = deadline_of(ttl)
  local current = string.match(envelope, '^{"x%-kelp%-expires%-at":(%d+),')
  if current then
    if tonumber(current) <= tonumber(at) then return envelope end
    return STAMP .. at .. string.sub(envelope, #STAMP + #current + 1)
  end
  local rest = string.match(envelope, "^{%s*(.*)$")
  if not rest or string.sub(rest, 1, 1) == "}" then return envelope end
  return STAMP .. at .. "," .. rest
end

-- A limited queue's lists (consume order), waiting messages and their bytes, kept current; or
-- nil and the error reply (a sub-list of another type), which fails only that queue's pushes.
local suffixes = nil
local levels = {}
local function level_of(queue, policy)
  local level = levels[queue]
  if level then return level end
  suffixes = suffixes or cjson.decode(ARGV[6])
  level = {count = 0, bytes = 0, keys = {}}
  for n, suffix in ipairs(suffixes) do
    local key = prefix .. queue .. suffix
    level.keys[n] = key
    if policy.max_bytes then
      local envelopes = redis.pcall("LRANGE", key, 0, -1)
      if envelopes.err then return nil, envelopes end
      for _, envelope in ipairs(envelopes) do
        level.count = level.count + 1
        level.bytes = level.bytes + #envelope
      end
    else
      local length = redis.pcall("LLEN", key)
      if type(length) == "table" then return nil, length end
      level.count = level.count + length
    end
  end
  levels[queue] = level
  return level
end

-- x-expires: a list without an expiry (just created by the push) gets the queue's.
local function keep_expiring(key, policy)
  if policy.expires and redis.call("PTTL", key) == -1 then redis.call("PEXPIRE", key, policy.expires) end
end

local function over(policy, level, count, bytes)
  return (policy.max_len and level.count + count > policy.max_len) or (policy.max_bytes and level.bytes + bytes > policy.max_bytes)
end

-- Pushes one (stored) envelope to key of a limited queue: true, false when refused
-- (reject-publish), or the error reply of the push.
local function push_limited(queue, key, envelope, policy)
  local level, err = level_of(queue, policy)
  if not level then return err end
  if policy.reject and over(policy, level, 1, #envelope) then return false end
  local reply = redis.pcall("LPUSH", key, envelope)
  if type(reply) == "table" and reply.err then return reply end
  keep_expiring(key, policy)
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
    local dead_key = prefix .. queue .. dead_suffix
    if policy.dead then
      redis.call("LPUSH", dead_key, cjson.encode({reason = "maxlen", queue = plain_name(queue), payload = head, time = now_ms / 1000}))
    else
      redis.call("HINCRBY", dropped_key(queue), dead_key, 1)
    end
  end
  return true
end

-- Sharded layout: queue -> the refusal of one of its keys (see the probes below), which fails
-- the publishes to that queue alone, as a refused push of a queue without arguments does.
local blocked = {}

-- Pushes envelope to queue's sub-list key: the LPUSH reply, or false when the queue refused it.
-- A blocked queue is refused first: its argument hash may be the key the node refused, and
-- pushing without its policy would store the message without its limits.
local function push_one(queue, key, envelope)
  if blocked[queue] then return blocked[queue] end
  local policy = policy_of(queue)
  if not policy then return redis.pcall("LPUSH", key, envelope) end
  if policy.ttl then envelope = with_deadline(envelope, policy.ttl) end
  if policy.limited then return push_limited(queue, key, envelope, policy) end
  local reply = redis.pcall("LPUSH", key, envelope)
  if type(reply) ~= "table" then keep_expiring(key, policy) end
  return reply
end

-- Decoded on first use: only topic publishes (mode t) need it.
local expected = nil
local tables = {}
local checked = {}
-- Values per LPUSH: unpack() puts them all on the Lua C stack (LUAI_MAXCSTACK is 8000).
local PUSH_CHUNK = 1000

-- Kombu's get_table: split each member into exactly (rk, pattern, queue); others are skipped.
local function table_of(set_key)
  local rows = tables[set_key]
  if rows then return rows end
  rows = {}
  for _, member in ipairs(redis.call("SMEMBERS", set_key)) do
    local first = string.find(member, sep, 1, true)
    if first then
      local second = string.find(member, sep, first + #sep, true)
      if second then
        rows[#rows + 1] = {string.sub(member, 1, first - 1), string.sub(member, second + #sep)}
      end
    end
  end
  tables[set_key] = rows
  return rows
end

-- Whether set_key holds exactly the members the client routed with (checked once per call).
local function unchanged(set_key)
  if checked[set_key] == nil then
    expected = expected or cjson.decode(ARGV[3])
    local want = expected[set_key]
    local same = false
    if type(want) == "table" then
      local members = redis.call("SMEMBERS", set_key)
      if #members == #want then
        local have = {}
        for _, member in ipairs(members) do have[member] = true end
        same = true
        for _, member in ipairs(want) do
          if not have[member] then same = false break end
        end
      end
    end
    checked[set_key] = same
  end
  return checked[set_key]
end

-- Direct routing: every bound queue whose binding key equals rk, de-duplicated in table order.
-- Memoized per call: publishes that alternate between routing keys form many small groups.
local routes = {}
local function route(set_key, rk)
  local by_rk = routes[set_key]
  if not by_rk then
    by_rk = {}
    routes[set_key] = by_rk
  end
  local queues = by_rk[rk]
  if queues then return queues end
  local seen = {}
  queues = {}
  for _, row in ipairs(table_of(set_key)) do
    local queue = row[2]
    if row[1] == rk and not seen[queue] then
      seen[queue] = true
      queues[#queues + 1] = queue
    end
  end
  by_rk[rk] = queues
  return queues
end

local function split(count, payload)
  if count == 1 then return {payload} end
  local envelopes, pos = {}, 1
  for n = 1, count - 1 do
    local nl = string.find(payload, "\n", pos, true)
    envelopes[n] = string.sub(payload, pos, nl - 1)
    pos = nl + 1
  end
  envelopes[count] = string.sub(payload, pos)
  return envelopes
end

-- A run of several envelopes, as the client sent it (joined by "\n"), split when first needed.
local function envelopes_of(run)
  run.envelopes = run.envelopes or split(run.count, run.payload)
  return run.envelopes
end

-- The run's envelopes, each with the deadline now + ttl. Cut out of the joined text with the
-- stamp in front (two new strings per envelope, where splitting and then with_deadline make
-- three) when every envelope starts `{"` and none carries a deadline yet; otherwise one by one
-- with with_deadline, so that an earlier deadline stays.
local function stamped_run(run, ttl)
  local payload, count = run.payload, run.count
  if not string.find(payload, STAMP, 1, true) then
    local head = STAMP .. deadline_of(ttl) .. ","
    local stamped, pos = {}, 1
    for n = 1, count do
      if string.byte(payload, pos) ~= 123 or string.byte(payload, pos + 1) ~= 34 then
        stamped = nil
        break
      end
      local nl = n < count and string.find(payload, "\n", pos, true) or #payload + 1
      stamped[n] = head .. string.sub(payload, pos + 1, nl - 1)
      pos = nl + 1
    end
    if stamped then return stamped end
  end
  local stamped = {}
  for n, envelope in ipairs(envelopes_of(run)) do stamped[n] = with_deadline(envelope, ttl) end
  return stamped
end

-- Pushes every envelope of the run to queue's key; records failed ranges in failures (first
-- error per range) and the envelopes a limited queue refused in refusals (index -> queues).
local function push_all(queue, key, run, failures, refusals)
  if blocked[queue] then
    if not failures[1] then failures[1] = {run.count, blocked[queue]} end
    return
  end
  local policy = policy_of(queue)
  local stored
  if policy and policy.ttl then
    stored = stamped_run(run, policy.ttl)
  else
    stored = envelopes_of(run)
  end
  local level, bytes = nil, 0
  if policy and policy.limited then
    if policy.max_bytes then
      for _, envelope in ipairs(stored) do bytes = bytes + #envelope end
    end
    local err
    level, err = level_of(queue, policy)
    if not level then
      if not failures[1] then failures[1] = {#stored, err} end
      return
    end
    if over(policy, level, #stored, bytes) then
      -- Some of the run is refused or pushes older messages out: message by message.
      for n, envelope in ipairs(stored) do
        local reply = push_one(queue, key, envelope)
        if reply == false then
          refusals[n] = refusals[n] or {}
          table.insert(refusals[n], queue)
        elseif type(reply) == "table" and reply.err and not failures[n] then
          failures[n] = {n, reply}
        end
      end
      return
    end
    -- The whole run fits: pushed as for a queue without a limit.
  end
  local n = #stored
  for from = 1, n, PUSH_CHUNK do
    local to = math.min(n, from + PUSH_CHUNK - 1)
    local reply = redis.pcall("LPUSH", key, unpack(stored, from, to))
    if type(reply) == "table" and reply.err then
      if not failures[from] then failures[from] = {to, reply} end
    elseif policy then
      keep_expiring(key, policy)
      if level then
        level.count = level.count + (to - from + 1)
        for k = from, to do level.bytes = level.bytes + #stored[k] end
      end
    end
  end
end

-- Every destination's queues (and its result) once per call, in destination order.
local destinations = tonumber(ARGV[9])
local results, queues_of = {}, {}
for d = 1, destinations do
  local at = FIRST + (d - 1) * 4
  local mode, target, rk = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  if mode == "q" then
    results[d], queues_of[d] = 1, {target}
  elseif mode == "t" then
    if unchanged(target) then
      queues_of[d] = cjson.decode(rk)
      results[d] = queues_of[d]
    else
      results[d], queues_of[d] = "stale", {}
    end
  else
    queues_of[d] = route(target, rk)
    results[d] = queues_of[d]
  end
end

local runs = 0
for _ in string.gmatch(ARGV[FIRST + destinations * 4], "%d+,%d+") do runs = runs + 1 end
drop_separator = ARGV[FIRST + destinations * 4 + runs + 1]

-- Before the first push: every key the call may write is read, so a refusal (see the header)
-- leaves nothing written. Each key once; the argument hashes are read (and kept) by policy_of.
-- Once the node has served a key it does not hold, the slot is not migrating (it refuses exactly
-- those) and cannot start to within this call: every key of that slot is served, and its probes
-- stop. Flat, every key is in the prefix's one slot (or no cluster at all), so the first such
-- answer ends every probe; in the sharded cluster layout (drop_separator set) a call's queues may
-- sit in several slots of one master, each queue's keys in its own, so it ends that queue's.
-- There only a queue with arguments is probed (a queue without has one write, its push, a pcall
-- that fails only the publishes it carried), and a refusal fails that queue's publishes alone:
-- the others of the call are in other slots, whose keys the node may well serve.
local probed, open = {}, {}
local function refused(key, queue)
  local slot = drop_separator and queue or ""
  if open[slot] or probed[key] then return nil end
  probed[key] = true
  local reply = redis.pcall("EXISTS", key)
  if type(reply) == "table" and reply.err then return reply.err end
  if reply == 0 then open[slot] = true end
  return nil
end
for d in string.gmatch(ARGV[FIRST + destinations * 4], "(%d+),%d+") do
  d = tonumber(d)
  local suffix = ARGV[FIRST + (d - 1) * 4 + 3]
  for _, queue in ipairs(queues_of[d]) do
    local policy, err = policy_of(queue)
    if not err and (policy or not drop_separator) then err = refused(prefix .. queue .. suffix, queue) end
    -- Only a length limit makes this call write the dead-letter list, the drop counter and the
    -- other sub-lists (push_limited); a TTL or an expiry writes the list alone.
    if policy and policy.limited and not err then
      err = refused(prefix .. queue .. dead_suffix, queue) or refused(dropped_key(queue), queue)
      suffixes = suffixes or cjson.decode(ARGV[6])
      for _, other in ipairs(suffixes) do err = err or refused(prefix .. queue .. other, queue) end
    end
    if err and drop_separator then
      blocked[queue] = {err = err}
    elseif err then
      return redis.error_reply("publish refused before its first write: " .. err)
    end
  end
end

local out = {results}
local function fail(from, to, reply)
  local n = #out
  out[n + 1] = from
  out[n + 2] = to
  out[n + 3] = reply
end
local function refuse(number, queue)
  fail(number, number, "!rejected:" .. queue)
end
local plan_at = FIRST + destinations * 4
local payload_at = plan_at + 1
local before = 0
for d, count in string.gmatch(ARGV[plan_at], "(%d+),(%d+)") do
  d, count = tonumber(d), tonumber(count)
  local suffix = ARGV[FIRST + (d - 1) * 4 + 3]
  local queues = queues_of[d]
  if count == 1 then
    -- The common small run (consecutive publishes to different places): no tables.
    local failed = nil
    for _, queue in ipairs(queues) do
      local reply = push_one(queue, prefix .. queue .. suffix, ARGV[payload_at])
      if reply == false then refuse(before + 1, queue) end
      if not failed and type(reply) == "table" and reply.err then failed = reply end
    end
    if failed then fail(before + 1, before + 1, failed) end
  elseif #queues > 0 then
    local run = {payload = ARGV[payload_at], count = count}
    local failures, refusals = {}, {}
    for _, queue in ipairs(queues) do push_all(queue, prefix .. queue .. suffix, run, failures, refusals) end
    for from = 1, count do
      local failed = failures[from]
      if failed then fail(before + from, before + failed[1], failed[2]) end
      for _, queue in ipairs(refusals[from] or {}) do refuse(before + from, queue) end
    end
  end
  before = before + count
  payload_at = payload_at + 1
end
return out
