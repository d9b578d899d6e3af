#include "llm/providers/mock.hpp"

#include "llm/token_estimate.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>

namespace aas::llm {

namespace asio = boost::asio;

MockProvider::MockProvider(std::chrono::milliseconds latency) : latency_(latency) {}

std::string MockProvider::reply_for(const ChatRequest& req) {
  std::string last_user;
  for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it) {
    if (it->role == "user") {
      last_user = it->content;
      break;
    }
  }
  std::string reply = "[mock model] You said: \"" + last_user + "\" (" +
                      std::to_string(req.messages.size()) + " messages in context)";
  // The system prompt it was given (its start), so a demo or a test can see which one applied.
  if (!req.messages.empty() && req.messages.front().role == "system") {
    const std::string& system = req.messages.front().content;
    std::size_t cut = std::min<std::size_t>(system.size(), 200);
    while (cut > 0 && cut < system.size() && (static_cast<unsigned char>(system[cut]) & 0xC0) == 0x80)
      --cut;  // never split a UTF-8 sequence
    reply += " [system: " + system.substr(0, cut) + (cut < system.size() ? "…" : "") + "]";
  }
  return reply;
}

asio::awaitable<void> MockProvider::simulate_latency() const {
  if (latency_.count() <= 0) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, latency_);
  co_await timer.async_wait(asio::use_awaitable);
}

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// The arguments of "call <name> {json}" in `text` (the JSON object, else "{}"); nullopt when
// the text does not ask for the tool — the same rule as tools/mock-llm.
std::optional<std::string> requested_call(std::string_view text, std::string_view name) {
  const std::string needle = "call " + std::string(name);
  for (std::size_t pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + 1)) {
    const std::size_t end = pos + needle.size();
    if ((pos > 0 && is_name_char(text[pos - 1])) || (end < text.size() && is_name_char(text[end]))) continue;
    std::string_view rest = text.substr(end);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    boost::json::stream_parser parser;
    boost::system::error_code ec;
    parser.write_some(rest.data(), rest.size(), ec);
    if (!rest.starts_with('{') || ec || !parser.done()) return "{}";
    const boost::json::value v = parser.release();
    return v.is_object() ? boost::json::serialize(v) : "{}";
  }
  return std::nullopt;
}

}  // namespace

std::vector<ToolCall> MockProvider::tool_calls_for(const ChatRequest& req) {
  std::vector<ToolCall> calls;
  if (req.tools.empty() || req.messages.empty() || req.messages.back().role != "user") return calls;
  for (const ToolDefinition& tool : req.tools) {
    auto arguments = requested_call(req.messages.back().content, tool.name);
    if (!arguments && tool.name == req.tool_choice) arguments = "{}";  // a forced call
    if (arguments)
      calls.push_back({"call_mock_" + std::to_string(calls.size() + 1), tool.name, std::move(*arguments)});
  }
  return calls;
}

namespace {

Completion make_completion(const ChatRequest& req, std::string content, std::string finish) {
  Completion c;
  c.usage.input_tokens = estimate_request_tokens(req);
  c.usage.output_tokens = estimate_tokens(content);
  c.usage.estimated = true;
  c.content = std::move(content);
  c.model = "mock";
  c.deployment = "mock";
  c.provider = "mock";
  c.finish_reason = std::move(finish);
  return c;
}
}  // namespace

// What the offline model cannot do is refused; what it can is answered in the right shape.
Result<std::string> MockProvider::answer_for(const ChatRequest& req) {
  if (req.logprobs || req.top_logprobs)
    return make_error(errc::invalid_request, "'logprobs' is not supported by the offline mock model");
  switch (req.response_format.kind) {
    case ResponseFormat::Kind::text:
      return reply_for(req);
    case ResponseFormat::Kind::json_object:
      return boost::json::serialize(boost::json::object{{"answer", reply_for(req)}});
    case ResponseFormat::Kind::json_schema:
      break;
  }
  return make_error(errc::invalid_request,
                    "'response_format' json_schema is not supported by the offline mock model "
                    "(configure a provider, or tools/mock-llm)");
}

Result<void> MockProvider::supports(const ChatRequest& req) const {
  if (auto answer = answer_for(req); !answer) return answer.error();
  return {};
}

asio::awaitable<Result<Completion>> MockProvider::complete(const ChatRequest& req) {
  auto answer = answer_for(req);
  if (!answer) co_return answer.error();
  co_await simulate_latency();
  if (auto calls = tool_calls_for(req); !calls.empty()) {
    Completion c = make_completion(req, "", "tool_calls");
    c.usage.output_tokens = estimate_tool_call_tokens(calls);
    c.tool_calls = std::move(calls);
    co_return c;
  }
  co_return make_completion(req, std::move(*answer), "stop");
}

asio::awaitable<Result<Completion>> MockProvider::stream(const ChatRequest& req,
                                                         const ChunkSink& sink) {
  auto answer = answer_for(req);
  if (!answer) co_return answer.error();
  co_await simulate_latency();
  if (auto calls = tool_calls_for(req); !calls.empty()) {
    Completion c = make_completion(req, "", "tool_calls");
    c.usage.output_tokens = estimate_tool_call_tokens(calls);
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const ToolCallDelta d{static_cast<int>(i), calls[i].id, calls[i].name, calls[i].arguments};
      if (!sink(StreamDelta{{}, &d})) {
        c.finish_reason = "cancelled";
        break;
      }
      c.tool_calls.push_back(calls[i]);
    }
    co_return c;
  }
  const std::string reply = std::move(*answer);
  // Word by word, spaces kept with the word that follows them, like a real token stream.
  std::string sent;
  std::size_t pos = 0;
  while (pos < reply.size()) {
    std::size_t next = reply.find(' ', pos + 1);
    if (next == std::string::npos) next = reply.size();
    const std::string_view piece(reply.data() + pos, next - pos);
    if (!sink(StreamDelta{piece})) co_return make_completion(req, sent, "cancelled");
    sent.append(piece);
    pos = next;
  }
  co_return make_completion(req, sent, "stop");
}

}  // namespace aas::llm
