--[[
  delay: stores one delayed message (publish with countdown / eta) in the delayed set of every
  queue it was routed to, and lowers each queue's entry in the delayed index to the message's
  due time, in one atomic step (docs/wire-format.md#delayed-delivery). The mover (move-due-0.lua)
  reads the index to find due queues without scanning keys.

  Variable number of keys (the caller passes numkeys):
    KEYS[1]     the delayed index zset (_kelp.delayed_index): queue name scored by its earliest due time
    KEYS[2..n]  the queues' delayed sets (_kelp.delayed.<queue>), in the order of ARGV[3..]

  ARGV[1]    due time, epoch milliseconds
  ARGV[2]    the member: "<priority step>|<envelope>" (unique: the envelope holds its delivery tag)
  ARGV[3]    prefix of the queue argument hashes (RedisKeys.queueArgumentsKey without the queue)
  ARGV[4..]  the queue names, one per delayed set

  A queue with `x-expires` gets it on a delayed set this call creates (a publish is not use of
  the queue and never extends an expiry; docs/wire-format.md#queue-expiry).

  Returns the number of queues written.
]]
for i = 2, #KEYS do
  local queue = ARGV[i + 2]
  redis.call("ZADD", KEYS[i], ARGV[1], ARGV[2])
  -- LT: only ever lowers the queue's next due time (a new entry is added as is).
  redis.call("ZADD", KEYS[1], "LT", ARGV[1], queue)
  local expires = tonumber(redis.call("HGET", ARGV[3] .. queue, "x-expires"))
  if expires and redis.call("PTTL", KEYS[i]) == -1 then redis.call("PEXPIRE", KEYS[i], expires) end
end
return #KEYS - 1
