--[[
  dead-letter: move a message that passed the pop but failed client-side validation (e.g. a
  body_encoding the client cannot decode) out of the ack-emulation structures and onto the
  queue's dead-letter list, in one step, so it is neither lost nor redelivered forever.

  KEYS[1]  unacked hash
  KEYS[2]  unacked_index zset
  KEYS[3]  dead-letter list of the queue

  ARGV[1]  delivery tag ("" when the message was never recorded, e.g. no_ack)
  ARGV[2]  the JSON record to push ({reason, queue_key, payload, time})

  Returns the length of the dead-letter list.
]]
if ARGV[1] ~= "" then
  redis.call("ZREM", KEYS[2], ARGV[1])
  redis.call("HDEL", KEYS[1], ARGV[1])
end
return redis.call("LPUSH", KEYS[3], ARGV[2])
