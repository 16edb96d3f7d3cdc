--[[
  move-waiting: move waiting messages from the consuming end of one queue list to the back of
  another (the dashboard's "move messages"), each only while it is still the next to be consumed:
  a consumer that took it first keeps it, so a message is never delivered and moved both, and
  never lost between the two lists.

  KEYS[1]  the source list (a queue's priority sub-list; its tail is consumed next)
  KEYS[2]  the target list (LPUSH: the back of the FIFO, like a publish)
  ARGV     pairs, oldest first: the message as stored, the message to push (its route rewritten)

  A pair whose message is not at the tail is skipped: a consumer took it (then a later pair is
  at the tail now) or something was pushed to the tail (a restore; then nothing here matches
  and nothing moves). Only the exact bytes expected are ever popped.

  Returns how many moved.
]]
local moved = 0
for i = 1, #ARGV, 2 do
  if redis.call("LINDEX", KEYS[1], -1) == ARGV[i] then
    redis.call("RPOP", KEYS[1])
    redis.call("LPUSH", KEYS[2], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
