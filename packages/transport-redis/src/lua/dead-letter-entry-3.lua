--[[
  dead-letter-entry: settle a delivered message by moving its unacked record to a dead-letter
  list (basicDeadLetter, a reject on a queue with dead-letter routing, a redelivery limit), if and
  only if the record is still exactly what the caller read: the caller reads the entry, builds
  the dead-letter record around the original envelope bytes, and this script swaps atomically.

  KEYS[1]  unacked hash
  KEYS[2]  unacked_index zset
  KEYS[3]  dead-letter list of the queue

  ARGV[1]  delivery tag
  ARGV[2]  SHA1 (hex) of the hash value the caller read
  ARGV[3]  the dead-letter record (JSON) to LPUSH

  Returns 1 moved, 0 the entry is gone (acked or restored meanwhile), -1 it changed (re-read).
]]
local current = redis.call("HGET", KEYS[1], ARGV[1])
if not current then
  redis.call("ZREM", KEYS[2], ARGV[1])
  return 0
end
if redis.sha1hex(current) ~= ARGV[2] then return -1 end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HDEL", KEYS[1], ARGV[1])
redis.call("LPUSH", KEYS[3], ARGV[3])
return 1
