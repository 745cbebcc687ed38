--[[
  Writes the results of a batch and acknowledges their stream entries, as one atomic step: a reader
  never sees an entry acknowledged without its result, nor a result half written.

  Fenced: the call carries the epoch its subtask was assigned with. When the JobManager has since given
  the subtask a newer epoch (it moved to another TaskManager), the writer is stale: nothing is written,
  nothing acknowledged, and the answer says so (the subtask must stop).

  Idempotent per entry: the record of what is still to be done is the stream itself, apart from the
  result hash that clients read and delete. An entry's result is written only while the entry is pending
  in the consumer group (every entry read and not yet written is; this script acknowledges and deletes
  it in the same step as it writes), or, when the group no longer knows it, still in the stream. So an
  entry written once (by this or another reader: after a crash between run and write, or by a reader that
  was paused) is neither rewritten nor replied to again, however late, with no memory per request; a new
  request that reuses a uri does replace the old result. When the split stream itself is gone (lost Redis
  state) the result is written: nothing tells, and the client is waiting.

  Isolated per entry: a result key that is not a hash, or a reply key that is not a stream, fails that
  entry's write alone (its result goes without the reply / nothing is stored; the entry is acknowledged
  and reported in the answer); the other entries of the call are written as usual.

  Input:
    KEYS[1] the job's fence hash (field = subtask index, value = epoch)
    KEYS[2 ..]: 3 per result, in order: [split stream, result key, reply stream (or the result key again
      when none)]
    ARGV[1] consumer group
    ARGV[2] result TTL in ms
    ARGV[3] reply stream MAXLEN (approximate)
    ARGV[4] the subtask's field in the fence hash
    ARGV[5] the subtask's epoch ('' = not fenced)
    ARGV[6 + 4*(i-1) ..]: per result i: uri, payload, has reply ('1'|'0'), entry id

  Output:
    { 1, written, i, j, ... } written = results written (redeliveries already written are not counted);
      i, j, ... = the (1-based) results whose result or reply key had the wrong type
    { 0, current epoch } fenced: nothing written or acknowledged

  Result hash fields: `value` (the payload) and `entry` (`<split stream>/<entry id>`: which split entry
  produced it, for tracing; nothing reads it to decide).

  Events:
    XADD to each reply stream: fields `uri`, `data` (the payload)
]]
local fences = KEYS[1]
local group = ARGV[1]
local ttl = ARGV[2]
local maxlen = ARGV[3]
local epoch = ARGV[5]
if epoch ~= '' then
  local current = redis.call('HGET', fences, ARGV[4])
  if current and tonumber(current) > tonumber(epoch) then
    return { 0, current }
  end
end
-- Whether a pcall answered without an error.
local function ok(reply)
  return type(reply) ~= 'table' or reply.err == nil
end
-- Whether the entry's result is still to be written (see "Idempotent" above).
local function toDo(stream, id)
  local rows = redis.pcall('XPENDING', stream, group, id, id, 1)
  if ok(rows) and #rows > 0 then return true end
  if redis.call('EXISTS', stream) == 0 then return true end
  return #redis.call('XRANGE', stream, id, id) > 0
end
local n = (#KEYS - 1) / 3
local written = 0
local out = { 1, 0 }
for i = 1, n do
  local k = 1 + 3 * (i - 1)
  local stream = KEYS[k + 1]
  local rkey = KEYS[k + 2]
  local reply = KEYS[k + 3]
  local a = 6 + 4 * (i - 1)
  local uri = ARGV[a]
  local payload = ARGV[a + 1]
  local hasReply = ARGV[a + 2]
  local id = ARGV[a + 3]
  if toDo(stream, id) then
    -- pcall: a key of the wrong type answers WRONGTYPE before anything is changed; only this entry fails.
    local bad = false
    if ok(redis.pcall('HSET', rkey, 'value', payload, 'entry', stream .. '/' .. id)) then
      redis.call('PEXPIRE', rkey, ttl)
    else
      bad = true
    end
    if hasReply == '1' then
      if ok(redis.pcall('XADD', reply, 'MAXLEN', '~', maxlen, '*', 'uri', uri, 'data', payload)) then
        redis.call('PEXPIRE', reply, ttl)
      else
        bad = true
      end
    end
    if bad then out[#out + 1] = i end
    written = written + 1
  end
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
end
out[2] = written
return out
