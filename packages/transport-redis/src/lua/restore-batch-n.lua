--[[
  restore-batch: one bounded batch of a visibility restore (Kombu restore_visible / kelp
  restore), so a backlog of any size is moved in short steps instead of one long command.
  The caller holds unacked_mutex (SET NX PX) for this batch; the script checks the token first
  and releases the lock at the end (compare-and-delete), so an expired lock taken over by another
  restorer (kelp or Python) stops this batch before it changes anything.

  For each item the entry is restored only if it is still exactly what the caller read (SHA1 of
  the hash value): the caller parsed it, marked it redelivered and resolved the target queues
  (routing needs exchange types the server does not know). Whoever restores second finds the
  entry gone, so concurrent restorers never push a message twice.

  Variable number of keys (the caller passes numkeys):
    KEYS[1]     unacked hash
    KEYS[2]     unacked_index zset
    KEYS[3]     unacked_mutex
    KEYS[4..n]  target lists (queue lists and dead-letter lists), referred to by index below

  ARGV[1]  lock token ("" = do not check or release the lock)
  ARGV[2]  "1" release the lock after the batch, "0" keep it
  ARGV[3...] items, each: tag, sha1 of the value read ("" if none was read), value to push,
             "RPUSH" (head of a queue: restores) or "LPUSH" (back; dead-letter lists),
             number of targets t, then t key indexes into KEYS

  Returns -2 when the lock is not ours (nothing changed), else one status per item:
    1 restored, 0 the entry was gone (its index member is removed), -1 it changed since read.
]]
if ARGV[1] ~= "" and redis.call("GET", KEYS[3]) ~= ARGV[1] then return -2 end
local out = {}
local i = 3
while i <= #ARGV do
  local tag, sha, value, t = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 4])
  local push = ARGV[i + 3] == "LPUSH" and "LPUSH" or "RPUSH"
  local current = redis.call("HGET", KEYS[1], tag)
  if not current then
    redis.call("ZREM", KEYS[2], tag)
    out[#out + 1] = 0
  elseif redis.sha1hex(current) ~= sha then
    out[#out + 1] = -1
  else
    redis.call("ZREM", KEYS[2], tag)
    redis.call("HDEL", KEYS[1], tag)
    for j = 1, t do
      redis.call(push, KEYS[tonumber(ARGV[i + 4 + j])], value)
    end
    out[#out + 1] = 1
  end
  i = i + 5 + t
end
if ARGV[1] ~= "" and ARGV[2] == "1" then redis.call("DEL", KEYS[3]) end
return out
