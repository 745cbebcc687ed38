--[[
  Parks one poison entry (delivered more than source.maxDeliveries times without a result) as one
  atomic step: a copy in the dead-letter stream, its error result (CS_ERR_POISON) written like any
  result, then XACK + XDEL of the entry. A reader never sees it acknowledged without both.

  Fenced and idempotent per entry, like writeResultsAndAck.lua: a stale epoch writes and acknowledges
  nothing; when the entry is no longer pending in the group nor in the stream, its result was written (by
  this or another reader) and the entry is only acknowledged — no second dead letter, result or reply. A result key that is not a
  hash, or a reply key that is not a stream, is left alone (the dead letter and acknowledgement happen).

  Input:
    KEYS[1] split stream
    KEYS[2] result key (<stream>:result:<uri>)
    KEYS[3] reply stream (or the result key again when the request asked for no reply)
    KEYS[4] dead-letter stream (<stream>:dead-letter)
    KEYS[5] the job's fence hash (field = subtask index, value = epoch)
    ARGV[1] consumer group
    ARGV[2] result TTL in ms
    ARGV[3] reply stream MAXLEN (approximate)
    ARGV[4] uri
    ARGV[5] payload (the encoded error result)
    ARGV[6] has reply ('1'|'0')
    ARGV[7] entry id
    ARGV[8] deliveries
    ARGV[9] reason
    ARGV[10] the subtask's field in the fence hash
    ARGV[11] the subtask's epoch ('' = not fenced)
    ARGV[12 ..] the entry's original fields, as name, value pairs

  Output:
    1 parked, 0 already written before (only acknowledged), -1 fenced (nothing written or acknowledged)

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
if ARGV[11] ~= '' then
  local current = redis.call('HGET', KEYS[5], ARGV[10])
  if current and tonumber(current) > tonumber(ARGV[11]) then
    return -1
  end
end
-- Whether the entry's result is still to be written (as in writeResultsAndAck.lua).
local function toDo()
  local rows = redis.pcall('XPENDING', stream, group, id, id, 1)
  if type(rows) == 'table' and rows.err == nil and #rows > 0 then return true end
  if redis.call('EXISTS', stream) == 0 then return true end
  return #redis.call('XRANGE', stream, id, id) > 0
end
local parked = 0
if toDo() then
  local fields = {}
  for i = 12, #ARGV do
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
  local rtype = redis.call('TYPE', rkey)['ok']
  if rtype == 'none' or rtype == 'hash' then
    redis.call('HSET', rkey, 'value', ARGV[5])
    redis.call('PEXPIRE', rkey, ARGV[2])
  end
  if ARGV[6] == '1' then
    local ptype = redis.call('TYPE', reply)['ok']
    if ptype == 'none' or ptype == 'stream' then
      redis.call('XADD', reply, 'MAXLEN', '~', ARGV[3], '*', 'uri', ARGV[4], 'data', ARGV[5])
      redis.call('PEXPIRE', reply, ARGV[2])
    end
  end
  parked = 1
end
redis.call('XACK', stream, group, id)
redis.call('XDEL', stream, id)
return parked
