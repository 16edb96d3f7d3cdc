--[[
  ack: forget delivered messages (Kombu's MULTI ZREM unacked_index / HDEL unacked / EXEC),
  for many tags in one round trip. The acks of one tick arrive here together (the client
  coalesces them), so the tags go to variadic ZREM/HDEL calls: a batch of 100 acks is 2
  commands inside the script, not 200. Chunks keep unpack() under Lua's C stack limit.

  KEYS[1]  unacked hash
  KEYS[2]  unacked_index zset
  ARGV     delivery tags

  Returns the number of hash entries removed.
]]
local CHUNK = 1000
local removed = 0
local n = #ARGV
for first = 1, n, CHUNK do
  local last = math.min(first + CHUNK - 1, n)
  redis.call("ZREM", KEYS[2], unpack(ARGV, first, last))
  removed = removed + redis.call("HDEL", KEYS[1], unpack(ARGV, first, last))
end
return removed
