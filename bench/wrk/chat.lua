-- bench/wrk/chat.lua: wrk sends a non-streaming Chat Completions request, the same body
-- keyroute-load sends. bench/run sets KEYROUTE_BENCH_TOKEN and KEYROUTE_BENCH_MODEL.
local token = os.getenv("KEYROUTE_BENCH_TOKEN") or ""
local model = os.getenv("KEYROUTE_BENCH_MODEL") or "gpt-4o-mini"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
