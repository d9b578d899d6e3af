-- POST /api/ai/chat continuing existing conversations: BENCH_CONVERSATIONS names a file with one
-- conversation id per line (created beforehand, one per connection). Each wrk thread takes its
-- own share of the ids and cycles through them, so with as many ids as connections each
-- conversation sees about one turn at a time. Per turn: read the conversation, store the user
-- message, read the recent context, call the mock model, store the assistant message.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local path = os.getenv("BENCH_CONVERSATIONS") or error("BENCH_CONVERSATIONS is not set")

local ids = {}
for line in io.lines(path) do
  if #line > 0 then ids[#ids + 1] = line end
end
assert(#ids > 0, "no conversation ids in " .. path)

-- setup() runs in the main Lua state once per thread, before the threads start.
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local mine, next_index = nil, 0

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
  mine = {}
  for i = 1, #ids do
    if (i - 1) % nthreads == tid then mine[#mine + 1] = ids[i] end
  end
  if #mine == 0 then mine = ids end
end

function request()
  next_index = next_index % #mine + 1
  local body = '{"conversationId":"' .. mine[next_index] ..
               '","message":"And what about the follow-up items from the last meeting?"}'
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
