-- Corrects the token counters a call was admitted with, in the window it was admitted in.
-- KEYS[i]: a token-limited check's base key; ARGV[1]: the admission's window index;
-- ARGV[2]: actual minus estimated tokens (may be negative; a counter never goes below zero).
-- A window whose hash has expired no longer counts and is left alone.
for i = 1, #KEYS do
  local key = KEYS[i] .. ':' .. ARGV[1]
  if redis.call('EXISTS', key) == 1 then
    if redis.call('HINCRBY', key, 't', ARGV[2]) < 0 then
      redis.call('HSET', key, 't', 0)
    end
  end
end
return 0
