--[[
  release-mutex: compare-and-delete release of the unacked_mutex lock, the same check
  redis-py's Lock.release does, so a restorer never frees a lock another process now holds
  (its own lock may have expired meanwhile).

  KEYS[1]  unacked_mutex
  ARGV[1]  the token this process set with SET NX PX

  Returns 1 released, 0 not ours (expired or taken by someone else).
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
