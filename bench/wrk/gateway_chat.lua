-- POST an OpenAI chat completion (not streamed): through the service's gateway
-- (/api/ai/v1/chat/completions, BENCH_TOKEN a JWT) or straight to mock-llm (/v1/chat/completions,
-- BENCH_TOKEN any key), with the same body and headers, so the difference is the gateway's
-- overhead. The URL given to wrk carries the path. Used by bench/gateway/run.sh.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello from the gateway benchmark"}]}'
