--[[
  pop-and-record: RPOP envelopes from queue lists in the given order and, in the same atomic
  step, record each one in Kombu's ack-emulation structures, so no crash can lose a popped
  message (Kombu 5.2.4 pops with BRPOP and records afterwards; docs/wire-format.md#atomic-pop).

  Variable number of keys (the caller passes numkeys):
    KEYS[1]        unacked hash        tag -> [envelope, exchange, routing_key]
    KEYS[2]        unacked_index zset  tag scored by delivery time
    KEYS[3], [4]   first queue list, its dead-letter list
    KEYS[5], [6]   second queue list, its dead-letter list   ... (pairs, in pop order)

  ARGV[1]  now: Unix time in seconds (float, the client's clock, as Kombu uses time.time())
  ARGV[2]  most messages to take (>= 1)
  ARGV[3]  "1" record in unacked (ack emulation, not no_ack), "0" just pop
  ARGV[4]  dead-letter time in seconds (same as ARGV[1]; kept separate for clarity of records)
  ARGV[5]  optional: one character per (queue, dead-letter) pair, "1" where the queue has
           dead-letter routing; missing or shorter: no routing
  ARGV[6]  optional: the hash counting expired messages dropped (RedisKeys.droppedKey("expired"),
           field = the pair's dead-letter key); required when ARGV[5] is given

  A message whose TTL has passed (message-expiry.ts: the deadline stamped as the envelope's
  first member, else properties.timestamp + expiration) is never recorded nor returned as a
  message: it goes to the pair's dead-letter list (reason "expired") where the queue has
  dead-letter routing, else it is dropped and counted. It does not count against ARGV[2]; at most
  MAX_EXPIRED are settled per call, so a long run of them cannot stall the server.

  Returns a flat array of triples {key, payload, status}:
    status = delivery tag       the message was taken (and recorded when ARGV[3] == "1"); when
                                recorded, the fields may have been read without a full parse
                                (read_fast below) and the client finishes the checks
    status = "!dead:<reason>"   the payload is not a usable Kombu envelope; it was moved to the
                                dead-letter list as a JSON record {reason, queue_key, payload, time}
    status = "!expired:1"       expired and dead-lettered (same record, reason "expired"); payload ""
    status = "!expired:0"       expired and dropped (counted); payload ""
  followed by ONE integer: how many (queue, dead-letter) pairs, from the first, were found
  empty. The script reads no key (only writes): a read inside a script makes Redis track every
  key the call declares for CLIENT TRACKING, `unacked` included (see leading-empty-n.lua).
  Drains the first non-empty list before moving to the next one, so priority order holds.
  A batch costs about 3 commands (RPOP key count, one ZADD, one HSET) whatever its size.
]]
local now = ARGV[1]
local limit = tonumber(ARGV[2])
local record = ARGV[3] == "1"
local dead_letter_flags = ARGV[5] or ""
local dropped_key = ARGV[6]
local out = {}
local taken = 0
local now_ms = tonumber(now) * 1000
local MAX_EXPIRED = 1000
local expired_count = 0

-- Whether the TTL of payload has passed. A stamped deadline is one anchored match; an envelope
-- without one is parsed only when it names an expiration at all ("xpiration" is rare in text
-- and in base64), and then expires only with a timestamp property (epoch seconds).
local function expired(payload)
  local at = string.match(payload, '^{"x%-kelp%-expires%-at":(%d+),')
  if at then return tonumber(at) <= now_ms end
  if not string.find(payload, 'xpiration"', 1, true) then return false end
  local ok, env = pcall(cjson.decode, payload)
  if not ok or type(env) ~= "table" or type(env["properties"]) ~= "table" then return false end
  local stamp, ttl = env["properties"]["timestamp"], env["properties"]["expiration"]
  if type(ttl) == "string" and string.match(ttl, "^%d+$") then ttl = tonumber(ttl) end
  if type(stamp) ~= "number" or type(ttl) ~= "number" or ttl < 0 then return false end
  return stamp * 1000 + ttl <= now_ms
end

-- cjson does not validate UTF-8, and a client reading the payload as text would silently turn
-- bad bytes into U+FFFD: such a payload is not a usable envelope. Jumps from one non-ASCII byte
-- to the next, so an ASCII payload costs a single find.
local function valid_utf8(s)
  -- One anchored pass settles the usual all-ASCII payload, where the unanchored search below
  -- tries a match at every position (docs/performance.md#costs-behind-the-design).
  if string.find(s, "^[\1-\127]*$") then return true end
  local i = string.find(s, "[\128-\255]")
  while i do
    local c = string.byte(s, i)
    local need, lo, hi
    if c >= 0xC2 and c <= 0xDF then need, lo, hi = 1, 0x80, 0xBF
    elseif c == 0xE0 then need, lo, hi = 2, 0xA0, 0xBF
    elseif c == 0xED then need, lo, hi = 2, 0x80, 0x9F
    elseif c >= 0xE1 and c <= 0xEF then need, lo, hi = 2, 0x80, 0xBF
    elseif c == 0xF0 then need, lo, hi = 3, 0x90, 0xBF
    elseif c >= 0xF1 and c <= 0xF3 then need, lo, hi = 3, 0x80, 0xBF
    elseif c == 0xF4 then need, lo, hi = 3, 0x80, 0x8F
    else return false end
    local b = string.byte(s, i + 1)
    if not b or b < lo or b > hi then return false end
    for k = 2, need do
      b = string.byte(s, i + k)
      if not b or b < 0x80 or b > 0xBF then return false end
    end
    i = string.find(s, "[\128-\255]", i + need + 1)
  end
  return true
end

-- The fast reading of an envelope: delivery_tag and delivery_info's exchange and routing_key
-- cut straight out of the text, a fraction of what valid_utf8 + cjson.decode cost. It answers
-- only for the layouts Kombu and kelp write (`"key": "value"` or `"key":"value"`, plain values
-- without escapes, delivery_info before delivery_tag), and only when each key occurs exactly once:
-- in valid JSON a `"delivery_tag"` not preceded by a backslash is a string token, so a single
-- one followed by ":" is the key cjson would have read. Anything else returns nil and the full
-- inspection below decides. It does not check that the whole payload is valid JSON or UTF-8:
-- with record on, the client does (it parses every envelope, checks that its
-- properties.delivery_tag is the tag recorded here, and re-reads the bytes when the text holds
-- U+FFFD), and dead-letters a record it finds bad.
local TAG = '^: ?"([^"\\]+)"'
local ROUTE = '^: ?{"exchange": ?"([^"\\]*)", ?"routing_key": ?"([^"\\]*)"()'

-- The end of the one `head .. tail` key token (e.g. `"delivery` `_tag"`), or nil unless there is
-- exactly one. Searches for `tail`: a plain find is a memchr for its first byte, and "_" is rare
-- in an envelope (base64 has none) where '"' is everywhere.
local function unique_key(s, head, tail)
  local at, after
  local from = 1
  while true do
    local a, b = string.find(s, tail, from, true)
    if not a then break end
    local start = a - #head
    if start >= 1 and string.sub(s, start, a - 1) == head then
      if at then return nil end
      at, after = start, b
    end
    from = b + 1
  end
  if not at or (at > 1 and string.byte(s, at - 1) == 92) then return nil end
  return after
end

local function read_fast(payload)
  local tag_at = unique_key(payload, '"delivery', '_tag"')
  if not tag_at then return nil end
  local tag = string.match(payload, TAG, tag_at + 1)
  if not tag then return nil end
  local at = unique_key(payload, '"delivery', '_info"')
  -- Both write properties.delivery_info before properties.delivery_tag: a tag key before it (a
  -- header of that name, with none in properties) is not the one cjson would read.
  if not at or at > tag_at then return nil end
  local ex, rk, after = string.match(payload, ROUTE, at + 1)
  if not ex then return nil end
  -- `}`, or the flag a restore adds (true or false; anything else is left to cjson).
  if string.byte(payload, after) ~= 125 then
    local word = string.match(payload, '^, ?"redelivered": ?(%a+)}', after)
    if word ~= "true" and word ~= "false" then return nil end
  end
  return tag, ex, rk
end

local function inspect(payload)
  if record then
    local tag, ex, rk = read_fast(payload)
    if tag then return tag, ex, rk end
  end
  if not valid_utf8(payload) then return nil, "payload is not valid UTF-8" end
  local ok, env = pcall(cjson.decode, payload)
  if not ok or type(env) ~= "table" then return nil, "payload is not a JSON object" end
  local props = env["properties"]
  if type(props) ~= "table" then return nil, "properties missing" end
  local tag = props["delivery_tag"]
  if type(tag) ~= "string" or tag == "" then return nil, "properties.delivery_tag missing" end
  local info = props["delivery_info"]
  if type(info) ~= "table" then return nil, "properties.delivery_info missing" end
  local ex = info["exchange"]
  local rk = info["routing_key"]
  if ex == nil or ex == cjson.null then ex = "" end
  if rk == nil or rk == cjson.null then rk = "" end
  if type(ex) ~= "string" or type(rk) ~= "string" then return nil, "delivery_info exchange/routing_key not strings" end
  return tag, ex, rk
end

-- Variadic writes, chunked so unpack() stays under Lua's C stack limit.
local CHUNK = 1000
local function flush(command, key, args)
  for first = 1, #args, CHUNK do
    redis.call(command, key, unpack(args, first, math.min(first + CHUNK - 1, #args)))
  end
end

-- RPOP key count (Redis >= 6.2) takes a whole batch in one command; older servers answer it
-- with an error, and the loop then pops one message per RPOP as before.
local counted = true
local function pop(key, n)
  if counted then
    local reply = redis.pcall("RPOP", key, n)
    if type(reply) ~= "table" or reply.err == nil then return reply or {} end
    counted = false
  end
  local one = redis.call("RPOP", key)
  if one then return {one} end
  return {}
end

-- cjson.encode of the exchange and routing key, once per distinct string in the batch (they are
-- usually the same for every message, and each encode call costs about a microsecond).
local encoded = {}
local function json_string(s)
  local e = encoded[s]
  if not e then
    e = cjson.encode(s)
    encoded[s] = e
  end
  return e
end

local tags, hset = {}, {}

-- An expired payload of pair (1-based) goes to its dead-letter list or is dropped and counted.
local function settle_expired(pair, key, dead_key, payload)
  expired_count = expired_count + 1
  local status = "!expired:0"
  if string.byte(dead_letter_flags, pair) == 49 then
    redis.call("LPUSH", dead_key, cjson.encode({reason = "expired", queue_key = key, payload = payload, time = tonumber(ARGV[4])}))
    status = "!expired:1"
  elseif dropped_key then
    redis.call("HINCRBY", dropped_key, dead_key, 1)
  end
  out[#out + 1] = key
  out[#out + 1] = ""
  out[#out + 1] = status
end

local i = 3
while i <= #KEYS and taken < limit and expired_count < MAX_EXPIRED do
  local key, dead_key, wanted = KEYS[i], KEYS[i + 1], limit - taken
  local pair = (i - 1) / 2
  local batch = pop(key, wanted)
  -- Empty, or (RPOP key count) short of what was asked: the list is empty now, next one. Popping
  -- it again only to hear nil cost an RPOP per list and call (a paced delivery: five RPOPs).
  if #batch == 0 or (counted and #batch < wanted) then
    i = i + 2
  end
  for _, payload in ipairs(batch) do
    if expired(payload) then
      settle_expired(pair, key, dead_key, payload)
    else
      taken = taken + 1
      local tag, ex, rk = inspect(payload)
      if tag then
        if record then
          tags[#tags + 1] = tag
          hset[#hset + 1] = tag
          -- The envelope is stored verbatim (not re-encoded), exactly the bytes that were queued.
          hset[#hset + 1] = "[" .. payload .. ", " .. json_string(ex) .. ", " .. json_string(rk) .. "]"
        end
        out[#out + 1] = key
        out[#out + 1] = payload
        out[#out + 1] = tag
      else
        local reason = ex
        redis.call("LPUSH", dead_key, cjson.encode({reason = reason, queue_key = key, payload = payload, time = tonumber(ARGV[4])}))
        out[#out + 1] = key
        out[#out + 1] = payload
        out[#out + 1] = "!dead:" .. reason
      end
    end
  end
end
-- Same order as Kombu's delivery record (ZADD, then HSET), once per batch. A small unacked_index
-- is a listpack sorted by (score, member), and every member here has the same score: added in
-- descending order each one lands at the front of its score run instead of after a walk over
-- it.
if #tags > 0 then
  -- Ascending sort without a Lua comparator (a call per comparison), read backwards.
  table.sort(tags)
  local zadd = {}
  for k = #tags, 1, -1 do
    zadd[#zadd + 1] = now
    zadd[#zadd + 1] = tags[k]
  end
  flush("ZADD", KEYS[2], zadd)
  flush("HSET", KEYS[1], hset)
end
out[#out + 1] = (i - 3) / 2
return out
