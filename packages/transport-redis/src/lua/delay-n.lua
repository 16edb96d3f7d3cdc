--[[
  delay: stores one delayed message (publish with countdown / eta) in the delayed set of every
  queue it was routed to, and lowers each queue's entry in the delayed index to the message's
  due time, in one atomic step (docs/wire-format.md#delayed-delivery). The mover (move-due-0.lua)
  reads the index to find due queues without scanning keys.

  Variable number of keys (the caller passes numkeys = 2n + 1 for n queues); every key the
  script touches is declared, so on a Redis Cluster whose slot is MIGRATING the node refuses the
  whole call (ASK / TRYAGAIN) before it runs, never in the middle after some writes:
    KEYS[1]          the delayed index zset (_kelp.delayed_index): queue name scored by its earliest due time
                     (the sharded layout sends one queue per call with its own index, _kelp.delayed_index.{<q>},
                     and `{<q>}` as the name, so every key is in that queue's slot)
    KEYS[2..n+1]     the queues' delayed sets (_kelp.delayed.<queue>), in the order of ARGV[3..]
    KEYS[n+2..2n+1]  the queues' argument hashes (_kelp.queue.<queue>), same order

  ARGV[1]    due time, epoch milliseconds
  ARGV[2]    the member: "<priority step>|<envelope>" (unique: the envelope holds its delivery tag)
  ARGV[3..]  the queue names, one per delayed set

  A queue with `x-expires` gets it on a delayed set this call creates (a publish is not use of
  the queue and never extends an expiry; docs/wire-format.md#queue-expiry).

  Returns the number of queues written.
]]
local n = (#KEYS - 1) / 2
local due = tonumber(ARGV[1])
for i = 1, n do
  local queue, set = ARGV[i + 2], KEYS[i + 1]
  redis.call("ZADD", set, ARGV[1], ARGV[2])
  -- Only ever lowers the queue's next due time (ZSCORE, not ZADD LT: that needs Redis 6.2).
  local current = redis.call("ZSCORE", KEYS[1], queue)
  if not current or due < tonumber(current) then redis.call("ZADD", KEYS[1], ARGV[1], queue) end
  local expires = tonumber(redis.call("HGET", KEYS[n + 1 + i], "x-expires"))
  if expires and redis.call("PTTL", set) == -1 then redis.call("PEXPIRE", set, expires) end
end
return n
