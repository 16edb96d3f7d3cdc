--[[
  touch-queues: marks queues as used now (a get, a consumer, a declaration) for `x-expires`
  (docs/wire-format.md#queue-expiry): every key of a queue declared with it gets the queue's
  expiry again, so Redis deletes them together once nobody uses the queue for that long. The
  priority sub-lists are what Kombu HEAD expires (PEXPIRE on each, from its put and get); kelp
  adds its own keys of the queue: the argument hash, the delayed set and the dead-letter list.
  PEXPIRE on a key that does not exist does nothing, so an empty queue costs nothing.

  No KEYS (built from the queue names here, like route-and-push-0.lua).
  ARGV[1]  global key prefix
  ARGV[2]  prefix of the queue argument hashes (RedisKeys.queueArgumentsKey without the queue)
  ARGV[3]  prefix of the delayed sets (RedisKeys.delayedKey without the queue)
  ARGV[4]  dead-letter list suffix
  ARGV[5]  JSON array of the priority sub-list suffixes ("" first)
  ARGV[6..] queue names, as their keys spell them (`{<q>}` in the sharded cluster layout, where
            the caller sends one call per slot: every key a call names is in that slot)

  Returns one integer per queue: its x-expires in ms, or 0 when it has none (nothing touched).
]]
local prefix, arguments_prefix, delayed_prefix, dead_suffix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local suffixes = nil
local out = {}
for i = 6, #ARGV do
  local queue = ARGV[i]
  local expires = tonumber(redis.call("HGET", arguments_prefix .. queue, "x-expires"))
  if expires and expires > 0 then
    suffixes = suffixes or cjson.decode(ARGV[5])
    for _, suffix in ipairs(suffixes) do redis.call("PEXPIRE", prefix .. queue .. suffix, expires) end
    redis.call("PEXPIRE", arguments_prefix .. queue, expires)
    redis.call("PEXPIRE", delayed_prefix .. queue, expires)
    redis.call("PEXPIRE", prefix .. queue .. dead_suffix, expires)
    out[#out + 1] = expires
  else
    out[#out + 1] = 0
  end
end
return out
