--[[
  Writes the results of a batch and acknowledges their stream entries, as one atomic step: a reader
  never sees an entry acknowledged without its result, nor a result half written.

  Idempotent per entry: a result hash remembers which entry (split/id) produced it, so a redelivered
  entry (after a crash between run and write) neither rewrites the result nor sends a second reply,
  while a new request that reuses a uri does replace the old result.

  Input:
    KEYS: 3 per result, in order: [split stream, result key, reply stream (or the result key again when none)]
    ARGV[1] consumer group
    ARGV[2] result TTL in ms
    ARGV[3] reply stream MAXLEN (approximate)
    ARGV[4 + 4*(i-1) ..]: per result i: uri, payload, has reply ('1'|'0'), entry id

  Output:
    number of results written (redeliveries that were already written are not counted)

  Events:
    XADD to each reply stream: fields `uri`, `data` (the payload)
]]
local group = ARGV[1]
local ttl = ARGV[2]
local maxlen = ARGV[3]
local n = #KEYS / 3
local written = 0
for i = 1, n do
  local stream = KEYS[3 * i - 2]
  local rkey = KEYS[3 * i - 1]
  local reply = KEYS[3 * i]
  local a = 4 + 4 * (i - 1)
  local uri = ARGV[a]
  local payload = ARGV[a + 1]
  local hasReply = ARGV[a + 2]
  local id = ARGV[a + 3]
  local entry = stream .. '/' .. id
  if redis.call('HGET', rkey, 'entry') ~= entry then
    redis.call('HSET', rkey, 'value', payload, 'entry', entry)
    redis.call('PEXPIRE', rkey, ttl)
    if hasReply == '1' then
      redis.call('XADD', reply, 'MAXLEN', '~', maxlen, '*', 'uri', uri, 'data', payload)
      redis.call('PEXPIRE', reply, ttl)
    end
    written = written + 1
  end
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
end
return written
