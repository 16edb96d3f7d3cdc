--[[
  exists-each: whether each list exists, as one 0/1 per key, in the order given.

  Sent right after pop-and-record in the same pipeline, on the poll connection that has CLIENT
  TRACKING on. A key read inside a script makes Redis (7.0) track EVERY key the call declares,
  so this read lives in its own script that declares only the queue lists: reading from inside
  pop-and-record would also track `unacked` and `unacked_index`, and every ack would then send
  an invalidation to the subscriber. The read and the arming are one atomic step: a list seen
  empty here is announced by the first write to it afterwards.

  KEYS  queue lists
  Returns an array of 0/1, one per key.
]]
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call("EXISTS", KEYS[i])
end
return out
