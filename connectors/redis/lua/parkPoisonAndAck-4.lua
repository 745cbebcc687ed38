--[[
  Parks one poison entry (delivered more than source.maxDeliveries times without a result) as one
  atomic step: a copy in the dead-letter stream, its error result (CS_ERR_POISON) written like any
  result, then XACK + XDEL of the entry. A reader never sees it acknowledged without both.

  Idempotent per entry, like writeResultsAndAck.lua: when the result hash already records this entry
  (split/id), its result was written (by this or another reader) and the entry is only acknowledged —
  no second dead letter, result or reply.

  Input:
    KEYS[1] split stream
    KEYS[2] result key (<stream>:result:<uri>)
    KEYS[3] reply stream (or the result key again when the request asked for no reply)
    KEYS[4] dead-letter stream (<stream>:dead-letter)
    ARGV[1] consumer group
    ARGV[2] result TTL in ms
    ARGV[3] reply stream MAXLEN (approximate)
    ARGV[4] uri
    ARGV[5] payload (the encoded error result)
    ARGV[6] has reply ('1'|'0')
    ARGV[7] entry id
    ARGV[8] deliveries
    ARGV[9] reason
    ARGV[10 ..] the entry's original fields, as name, value pairs

  Output:
    1 parked, 0 already written before (only acknowledged)

  Events:
    XADD to the dead-letter stream: the original fields, then `split`, `id`, `deliveries`, `reason`
    XADD to the reply stream: fields `uri`, `data` (the payload)
]]
local stream = KEYS[1]
local rkey = KEYS[2]
local reply = KEYS[3]
local deadLetter = KEYS[4]
local group = ARGV[1]
local id = ARGV[7]
local entry = stream .. '/' .. id
local parked = 0
if redis.call('HGET', rkey, 'entry') ~= entry then
  local fields = {}
  for i = 10, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  fields[#fields + 1] = 'split'
  fields[#fields + 1] = stream
  fields[#fields + 1] = 'id'
  fields[#fields + 1] = id
  fields[#fields + 1] = 'deliveries'
  fields[#fields + 1] = ARGV[8]
  fields[#fields + 1] = 'reason'
  fields[#fields + 1] = ARGV[9]
  redis.call('XADD', deadLetter, '*', unpack(fields))
  redis.call('HSET', rkey, 'value', ARGV[5], 'entry', entry)
  redis.call('PEXPIRE', rkey, ARGV[2])
  if ARGV[6] == '1' then
    redis.call('XADD', reply, 'MAXLEN', '~', ARGV[3], '*', 'uri', ARGV[4], 'data', ARGV[5])
    redis.call('PEXPIRE', reply, ARGV[2])
  end
  parked = 1
end
redis.call('XACK', stream, group, id)
redis.call('XDEL', stream, id)
return parked
