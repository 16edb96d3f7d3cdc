--[[
  restore-by-tag: put one unacked message back onto its queues, if (and only if) it is still
  unacked exactly as the caller read it. This is a compare-and-swap replacing Kombu's
  WATCH unacked / HGET / MULTI ZREM HDEL [L|R]PUSH EXEC (docs/wire-format.md#restore): the caller
  HGETs the entry, marks it redelivered and resolves the target queues (routing needs process-local
  exchange types), then calls this script. A Python restorer and this script never both push the
  message: whoever runs second finds the entry gone.

  Variable number of keys (the caller passes numkeys):
    KEYS[1]     unacked hash
    KEYS[2]     unacked_index zset
    KEYS[3..n]  target queue lists (may be none: the message is then dropped, as Kombu does
                when the lookup finds no queue)

  ARGV[1]  delivery tag
  ARGV[2]  the hash value the caller read (JSON [envelope, exchange, routing_key])
  ARGV[3]  the envelope to push (marked redelivered)
  ARGV[4]  "LPUSH" (reject with requeue: back of the FIFO) or "RPUSH" (restore: next in line)

  Returns 1 restored, 0 the entry is gone (acked or restored by someone else), -1 the entry
  changed since the caller read it (re-read and retry).
]]
local current = redis.call("HGET", KEYS[1], ARGV[1])
if not current then
  redis.call("ZREM", KEYS[2], ARGV[1])
  return 0
end
if current ~= ARGV[2] then return -1 end
local push = ARGV[4] == "LPUSH" and "LPUSH" or "RPUSH"
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HDEL", KEYS[1], ARGV[1])
for i = 3, #KEYS do
  redis.call(push, KEYS[i], ARGV[3])
end
return 1
