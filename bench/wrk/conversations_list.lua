-- GET /api/ai/conversations?limit=20 as one user (BENCH_TOKEN) who owns 1,000 conversations:
-- JWT verification plus one indexed SQLite read on the reader pool per request.
-- The URL given to wrk carries the path and query.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
