--[[
  ack: forget delivered messages (Kombu's MULTI ZREM unacked_index / HDEL unacked / EXEC),
  for many tags in one round trip.

  KEYS[1]  unacked hash
  KEYS[2]  unacked_index zset
  ARGV     delivery tags

  Returns the number of hash entries removed.
]]
local removed = 0
for i = 1, #ARGV do
  redis.call("ZREM", KEYS[2], ARGV[i])
  removed = removed + redis.call("HDEL", KEYS[1], ARGV[i])
end
return removed
