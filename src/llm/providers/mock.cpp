#include "llm/providers/mock.hpp"

#include "llm/token_estimate.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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

asio::awaitable<Result<Completion>> MockProvider::complete(const ChatRequest& req) {
  co_await simulate_latency();
  co_return make_completion(req, reply_for(req), "stop");
}

asio::awaitable<Result<Completion>> MockProvider::stream(const ChatRequest& req,
                                                         const ChunkSink& sink) {
  co_await simulate_latency();
  const std::string reply = reply_for(req);
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
