--[[
  move-dead-letter: put one dead-lettered message back on a queue (kelp dead-letters --requeue),
  only if its record is still in the dead-letter list, so two operators requeueing at once never
  push it twice and a crash never loses it.

  KEYS[1]  dead-letter list
  KEYS[2]  the queue list to push to (LPUSH: the back of the FIFO, like a publish)
  ARGV[1]  the record as stored (removed once, searching from the tail: the oldest first)
  ARGV[2]  the envelope to push

  Returns 1 moved, 0 the record was gone.
]]
if redis.call("LREM", KEYS[1], -1, ARGV[1]) == 1 then
  redis.call("LPUSH", KEYS[2], ARGV[2])
  return 1
end
return 0
