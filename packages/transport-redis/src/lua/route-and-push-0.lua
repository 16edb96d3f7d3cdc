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

  No KEYS (the queues are only known after the lookup; Kombu's layout is not cluster-friendly).
  ARGV[1]  global key prefix ("" when none), prepended to queue names
  ARGV[2]  sep (binding members are <rk> sep <pattern> sep <queue>)
  ARGV[3]  JSON object: prefixed binding set key -> the members the client routed with (mode t)
  then 5 fields per message:
    mode      "q": push to the queue named by target; "d": route target (a binding set key) by rk;
              "t": push to the queues in rk if set target still holds exactly ARGV[3][target]
    target    queue name (mode q) or prefixed binding set key (modes d, t)
    rk        routing key (mode d) or JSON array of queue names (mode t)
    suffix    priority sub-list suffix: "" for step 0, else sep .. step
    envelope  the JSON to LPUSH

  Returns one entry per message: 1 (mode q, pushed), the array of queues reached (modes d, t;
  empty when nothing matched), "stale" (mode t, nothing pushed) or an error reply for that
  message alone (e.g. WRONGTYPE), so one failing push fails only its own publish.
]]
local prefix = ARGV[1]
local sep = ARGV[2]
local expected = cjson.decode(ARGV[3])
local tables = {}
local checked = {}
local out = {}

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

local function push(queue, suffix, envelope)
  local reply = redis.pcall("LPUSH", prefix .. queue .. suffix, envelope)
  if type(reply) == "table" and reply.err then return reply end
  return nil
end

for i = 4, #ARGV, 5 do
  local mode, target, rk, suffix, envelope = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if mode == "q" then
    out[#out + 1] = push(target, suffix, envelope) or 1
  elseif mode == "t" then
    if unchanged(target) then
      local queues, failed = cjson.decode(rk), nil
      for _, queue in ipairs(queues) do
        failed = failed or push(queue, suffix, envelope)
      end
      out[#out + 1] = failed or queues
    else
      out[#out + 1] = "stale"
    end
  else
    -- Direct routing: every bound queue whose binding key equals rk, de-duplicated in table order.
    local queues, seen, failed = {}, {}, nil
    for _, row in ipairs(table_of(target)) do
      local queue = row[2]
      if row[1] == rk and not seen[queue] then
        seen[queue] = true
        queues[#queues + 1] = queue
        failed = failed or push(queue, suffix, envelope)
      end
    end
    out[#out + 1] = failed or queues
  end
end
return out
