--[[
  leading-empty: how many of the given lists, from the first, do not exist (stops at the first
  one that does).

  Sent right after pop-and-record in the same pipeline, on the poll connection that has CLIENT
  TRACKING on, with the lists that pop named in the same order: the pop drains them in order, so
  the empty ones lead and checking stops where data starts (checking all, up to 128 lists, cost
  ten times the pop's own commands with 100 queues). Each list read here is armed in the same
  atomic step as the read: the first write to it afterwards is announced.
  It lives in its own script because a read inside a script makes Redis (7.0) track EVERY key the
  call declares: reading from inside pop-and-record would also track `unacked` and
  `unacked_index`, and every ack would then send an invalidation to the subscriber.

  KEYS  queue lists
  ARGV  none
  Returns an integer.
]]
local n = 0
for i = 1, #KEYS do
  if redis.call("EXISTS", KEYS[i]) == 1 then break end
  n = i
end
return n
