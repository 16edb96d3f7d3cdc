--[[
  record: one delivery recorded in a queue's own unacked keys (the sharded layout), index and
  value in one step, so a crash or a lost connection never leaves one without the other (an
  index entry without its value is dropped by the restore sweep, a value without its index is
  never restored).

  KEYS[1]  unacked hash
  KEYS[2]  unacked_index zset
  ARGV[1]  score (epoch seconds)
  ARGV[2]  delivery tag
  ARGV[3]  Kombu's record value, `[envelope, exchange, routing_key]`

  Returns 1.
]]
redis.call("ZADD", KEYS[2], ARGV[1], ARGV[2])
redis.call("HSET", KEYS[1], ARGV[2], ARGV[3])
return 1
