-- GET /health: the cheapest route (no auth, no database); measures the HTTP stack alone.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "GET"
