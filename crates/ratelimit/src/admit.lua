-- Admits one call against every limit it is subject to, all or nothing, on Redis's clock.
-- KEYS[i]: check i's base key; its counters live in hashes "<base>:<window index>" with fields
--          r (requests) and t (tokens).
-- ARGV[1]: window length (ms); ARGV[2]: key lifetime (ms); ARGV[3]: the call's token cost;
-- ARGV[2 + 2i], ARGV[3 + 2i]: check i's request and token limits, -1 when unlimited.
-- Returns {admitted (0|1), now (ms), window index, then per check: current requests,
-- previous requests, current tokens, previous tokens (as read, before this call)}.
-- Counts go back to Redis as the caller's strings: Lua would print large numbers as 1e+15.
-- The comparison is Rust's (src/window.rs), on integers scaled by the window length:
-- previous * left + (current + cost) * window <= limit * window.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
local cost = tonumber(ARGV[3])
local index = math.floor(now / window)
local left = window - (now - index * window)
local reply = {0, now, index}
local current = {}
local admitted = true
for i = 1, #KEYS do
  local this = string.format('%s:%d', KEYS[i], index)
  local last = string.format('%s:%d', KEYS[i], index - 1)
  local c = redis.call('HMGET', this, 'r', 't')
  local p = redis.call('HMGET', last, 'r', 't')
  local cr, ct = tonumber(c[1]) or 0, tonumber(c[2]) or 0
  local pr, pt = tonumber(p[1]) or 0, tonumber(p[2]) or 0
  local rl, tl = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if rl >= 0 and pr * left + (cr + 1) * window > rl * window then
    admitted = false
  end
  if tl >= 0 and pt * left + (ct + cost) * window > tl * window then
    admitted = false
  end
  current[i] = this
  local n = #reply
  reply[n + 1] = cr
  reply[n + 2] = pr
  reply[n + 3] = ct
  reply[n + 4] = pt
end
if admitted then
  for i = 1, #KEYS do
    local rl, tl = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
    if rl >= 0 then
      redis.call('HINCRBY', current[i], 'r', 1)
    end
    if tl >= 0 and cost > 0 then
      redis.call('HINCRBY', current[i], 't', ARGV[3])
    end
    redis.call('PEXPIRE', current[i], ARGV[2])
  end
  reply[1] = 1
end
return reply
