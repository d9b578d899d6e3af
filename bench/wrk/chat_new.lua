-- POST /api/ai/chat without a conversationId: every request is a new conversation on the mock
-- model, i.e. per turn: create conversation + store user message (one write transaction each),
-- read the context, call the mock model, store the assistant message (another write).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"Hello! Can you summarise what we decided about the release plan for next week?"}'
