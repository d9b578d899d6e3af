// Fault injection and timing, shared by both vendors: the x-mock-* headers, the counters of
// GET /mock/stats, and the stream driver that paces tokens and misbehaves on request.
#include "mock.hpp"
#include "ticker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <variant>

namespace aas::mockllm {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Generous, but a typo must not make the mock allocate gigabytes.
constexpr std::size_t kMaxAnswerTokens = 2'000'000;
constexpr std::size_t kMaxChunkBytes = 64 * 1024 * 1024;

std::optional<std::uint64_t> parse_count(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool truthy(std::string_view v) { return !(v.empty() || v == "0" || v == "false" || v == "no"); }

// One header: absent leaves `out` alone; a bad value is reported by name.
class HeaderReader {
 public:
  explicit HeaderReader(const http::Request& req) : req_(req) {}

  template <class T>
  void count(std::string_view name, T& out, std::uint64_t max = std::numeric_limits<std::uint32_t>::max()) {
    const auto v = req_.header(name);
    if (!v) return;
    const auto n = parse_count(*v);
    if (!n || *n > max) return fail(name, fmt::format("a whole number from 0 to {}", max));
    out = static_cast<T>(*n);
  }

  void millis(std::string_view name, std::chrono::milliseconds& out) {
    std::uint64_t ms = 0;
    const bool present = req_.header(name).has_value();
    count(name, ms, 3'600'000);
    if (present && !error) out = std::chrono::milliseconds(ms);
  }

  void rate(std::string_view name, double& out) {
    const auto v = req_.header(name);
    if (!v) return;
    double d = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
    if (ec != std::errc() || end != v->data() + v->size() || !(d >= 0) || d > 1e6) {
      return fail(name, "a number of tokens per second from 0 to 1000000");
    }
    out = d;
  }

  std::optional<std::string> error;

 private:
  void fail(std::string_view name, std::string_view expected) {
    if (!error) error = fmt::format("{}: expected {}", name, expected);
  }
  const http::Request& req_;
};

}  // namespace

std::optional<std::string> read_behaviour(const http::Request& req, const Settings& settings,
                                          Behaviour& out) {
  out = Behaviour{};
  out.delay = settings.delay;
  out.tokens_per_second = settings.tokens_per_second;
  out.answer_tokens = settings.answer_tokens;
  out.drip_interval = settings.drip_interval;

  HeaderReader h(req);
  h.millis("x-mock-delay-ms", out.delay);
  h.rate("x-mock-tokens-per-second", out.tokens_per_second);
  if (req.header("x-mock-answer-tokens")) {
    std::size_t n = 0;
    h.count("x-mock-answer-tokens", n, kMaxAnswerTokens);
    out.answer_tokens = n;
  }
  h.count("x-mock-status", out.status, 599);
  if (out.status != 0 && out.status < 400 && !h.error) {
    h.error = "x-mock-status: expected an error status from 400 to 599";
  }
  if (const auto v = req.header("x-mock-retry-after")) out.retry_after = std::string(*v);
  h.count("x-mock-fail-first", out.fail_first, 1'000'000);
  if (const auto v = req.header("x-mock-key")) out.key = std::string(*v);
  if (req.header("x-mock-drop-after")) {
    std::size_t n = 0;
    h.count("x-mock-drop-after", n, kMaxAnswerTokens);
    out.drop_after = n;
  }
  if (const auto v = req.header("x-mock-malformed")) {
    // A number says after how many tokens; any other true value means after the first.
    if (const auto n = parse_count(*v)) {
      out.malformed_after = *n;
    } else if (truthy(*v)) {
      out.malformed_after = 1;
    }
  }
  if (const auto v = req.header("x-mock-drip")) out.drip = truthy(*v);
  h.count("x-mock-chunk-bytes", out.chunk_bytes, kMaxChunkBytes);
  h.count("x-mock-cached-tokens", out.cached_tokens);
  h.count("x-mock-cache-write-tokens", out.cache_write_tokens);
  h.count("x-mock-reasoning-tokens", out.reasoning_tokens);
  h.count("x-mock-flood-bytes", out.flood_bytes, std::numeric_limits<std::uint32_t>::max());
  if (req.header("x-mock-stall-after")) {
    std::size_t n = 0;
    h.count("x-mock-stall-after", n, kMaxAnswerTokens);
    out.stall_after = n;
  }
  if (req.header("x-mock-claim-output-tokens")) {
    std::size_t n = 0;
    h.count("x-mock-claim-output-tokens", n);
    out.claim_output_tokens = n;
  }
  if (const auto v = req.header("x-mock-ignore-max-tokens")) out.ignore_max_tokens = truthy(*v);
  return h.error;
}

// ---- Stats ----

void Stats::count_request(std::string_view path, std::string_view key) {
  std::lock_guard lock(mutex_);
  ++total_;
  ++by_path_[std::string(path)];
  if (!key.empty()) ++by_key_[std::string(key)];
}

void Stats::stream_opened(std::string_view key) {
  std::lock_guard lock(mutex_);
  ++streams_.open;
  if (!key.empty()) ++streams_by_key_[std::string(key)].open;
}

void Stats::stream_closed(std::string_view key, StreamEnd how) {
  std::lock_guard lock(mutex_);
  const auto update = [how](Streams& s) {
    if (s.open > 0) --s.open;
    switch (how) {
      case StreamEnd::completed: ++s.completed; break;
      case StreamEnd::cancelled: ++s.cancelled; break;
      case StreamEnd::dropped: ++s.dropped; break;
    }
  };
  update(streams_);
  if (!key.empty()) update(streams_by_key_[std::string(key)]);
}

bool Stats::fail_this_attempt(std::string_view key, int n) {
  std::lock_guard lock(mutex_);
  return ++attempts_[std::string(key)] <= static_cast<std::uint64_t>(n);
}

std::string Stats::to_json() const {
  const auto streams_json = [](const Streams& s) {
    return json::object{{"open", s.open},
                        {"completed", s.completed},
                        {"cancelled", s.cancelled},
                        {"dropped", s.dropped}};
  };
  std::lock_guard lock(mutex_);
  json::object by_path;
  for (const auto& [k, v] : by_path_) by_path[k] = v;
  json::object by_key;
  for (const auto& [k, v] : by_key_) by_key[k] = v;
  json::object streams_by_key;
  for (const auto& [k, v] : streams_by_key_) streams_by_key[k] = streams_json(v);
  json::object streams = streams_json(streams_);
  streams["by_key"] = std::move(streams_by_key);
  return json::serialize(json::object{
      {"requests", json::object{{"total", total_}, {"by_path", by_path}, {"by_key", by_key}}},
      {"streams", std::move(streams)}});
}

void Stats::reset() {
  std::lock_guard lock(mutex_);
  // Streams still open stay counted as open: they will report their end later.
  const std::uint64_t open = streams_.open;
  auto open_by_key = streams_by_key_;
  total_ = 0;
  by_path_.clear();
  by_key_.clear();
  attempts_.clear();
  streams_ = Streams{};
  streams_.open = open;
  streams_by_key_.clear();
  for (const auto& [k, s] : open_by_key) {
    if (s.open > 0) streams_by_key_[k].open = s.open;
  }
}

// ---- Mock ----

std::string Mock::new_id(std::string_view prefix) {
  return fmt::format("{}{:06}", prefix, next_id.fetch_add(1));
}

bool Mock::model_known(std::string_view model) const {
  return settings.models.empty() ||
         std::find(settings.models.begin(), settings.models.end(), model) != settings.models.end();
}

int Mock::injected_status(const Behaviour& b) {
  if (b.fail_first > 0) {
    return stats.fail_this_attempt(b.key, b.fail_first) ? (b.status ? b.status : 500) : 0;
  }
  return b.status;
}

http::Response with_retry_after(http::Response res, const Behaviour& b) {
  if (!b.retry_after.empty()) res.headers.push_back({"retry-after", b.retry_after});
  return res;
}

// ---- timing ----

namespace {

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  if (d <= std::chrono::steady_clock::duration::zero()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

std::chrono::steady_clock::duration token_time(const Behaviour& b, std::size_t tokens) {
  if (b.tokens_per_second <= 0) return {};
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(static_cast<double>(tokens) / b.tokens_per_second));
}

// The server ends a body whose producer threw without its last chunk, then closes: the client
// sees the connection drop mid-body, as when an upstream dies. (It also logs the message.)
[[noreturn]] void throw_drop() {
  throw std::runtime_error("x-mock-drop-after: connection dropped on purpose");
}

// Until `due`: on the shared ticker when there is one.
asio::awaitable<void> sleep_until(Ticker* ticker, std::chrono::steady_clock::time_point due) {
  if (ticker != nullptr) {
    co_await ticker->wait_until(due, asio::use_awaitable);
  } else {
    co_await sleep_for(due - std::chrono::steady_clock::now());
  }
}

// Sends the tokens; returns how the stream ended. Cancelled from outside when the client leaves.
asio::awaitable<StreamEnd> produce(http::BodyWriter& out, const Behaviour& b,
                                   const std::vector<std::string>& tokens, StreamFraming& framing,
                                   Ticker* ticker) {
  co_await sleep_for(b.delay);
  if (!co_await out.write(framing.start())) co_return StreamEnd::cancelled;
  // Paced tokens keep to a schedule counted from here, the first token's time: token k is due
  // k / rate later, so a late wake-up delays one token, not every one after it.
  const auto first_token_at = std::chrono::steady_clock::now();

  std::size_t sent = 0;  // tokens
  std::size_t next = 0;  // index into tokens (or the filler, once a drip has used them up)
  std::size_t text_bytes = 0;
  bool malformed_sent = false;
  // A drip and a flood go on past the answer with filler words, made one at a time.
  const bool endless = b.drip || b.flood_bytes > 0;
  for (;;) {
    if (b.stall_after && sent >= *b.stall_after) {
      // Silent until the client leaves (run_stream races this against it).
      asio::steady_timer forever(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return StreamEnd::cancelled;
    }
    if (b.malformed_after && !malformed_sent && sent >= *b.malformed_after) {
      malformed_sent = true;
      if (!co_await out.write(framing.malformed())) co_return StreamEnd::cancelled;
    }
    if (b.drop_after && sent >= *b.drop_after) co_return StreamEnd::dropped;
    if (!endless && next >= tokens.size()) break;
    if (b.flood_bytes > 0 && !b.drip && next >= tokens.size() && text_bytes >= b.flood_bytes) break;

    // The next chunk: one token, or (x-mock-chunk-bytes) as many as make it large enough, never
    // past a token count where a fault must happen.
    std::string piece;
    std::size_t n = 0;
    do {
      piece += next < tokens.size() ? tokens[next] : filler_token(next - tokens.size());
      ++next;
      ++n;
    } while (!b.drip && piece.size() < b.chunk_bytes && (next < tokens.size() || b.flood_bytes > text_bytes + piece.size()) &&
             !(b.drop_after && sent + n >= *b.drop_after) &&
             !(b.malformed_after && !malformed_sent && sent + n >= *b.malformed_after));

    if (sent > 0 && b.drip) co_await sleep_for(b.drip_interval);
    // (A chunk of n tokens is due when its last token is.)
    if (sent > 0 && !b.drip && b.tokens_per_second > 0) co_await sleep_until(ticker, first_token_at + token_time(b, sent + n - 1));
    if (!co_await out.write(framing.delta(piece))) co_return StreamEnd::cancelled;
    sent += n;
    text_bytes += piece.size();
  }
  // Asked for after more tokens than the answer has: it still comes, just before the end.
  if (b.malformed_after && !malformed_sent && !co_await out.write(framing.malformed())) {
    co_return StreamEnd::cancelled;
  }
  if (!co_await out.write(framing.finish(sent))) co_return StreamEnd::cancelled;
  co_return StreamEnd::completed;
}

// A failure inside produce (a bug) must end the stream rather than wait for the client to leave.
asio::awaitable<StreamEnd> produce_guarded(http::BodyWriter& out, const Behaviour& b,
                                           const std::vector<std::string>& tokens,
                                           StreamFraming& framing, Ticker* ticker) {
  try {
    co_return co_await produce(out, b, tokens, framing, ticker);
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) spdlog::error("stream failed: {}", e.what());
  } catch (const std::exception& e) {
    spdlog::error("stream failed: {}", e.what());
  }
  co_return StreamEnd::cancelled;
}

asio::awaitable<void> run_stream(Mock& mock, Behaviour b, std::vector<std::string> tokens,
                                 std::shared_ptr<StreamFraming> framing, http::BodyWriter& out) {
  using namespace asio::experimental::awaitable_operators;
  mock.stats.stream_opened(b.key);
  // Raced against the client leaving, so a pause (drip, pacing) ends as soon as it has gone.
  const auto result = co_await (produce_guarded(out, b, tokens, *framing, mock.ticker) || http::client_gone(out));
  const StreamEnd end = result.index() == 0 ? std::get<0>(result) : StreamEnd::cancelled;
  mock.stats.stream_closed(b.key, end);
  if (end == StreamEnd::dropped) throw_drop();
}

// A non-streamed answer that never comes: whitespace, which JSON allows before a value, so the
// client holds an open, slowly growing, never complete body.
class Whitespace final : public StreamFraming {
 public:
  std::string start() override { return " "; }
  std::string delta(std::string_view) override { return " "; }
  std::string malformed() override { return " "; }
  std::string finish(std::size_t) override { return {}; }
};

asio::awaitable<void> run_truncated(Mock& mock, Behaviour b, std::string body,
                                    http::BodyWriter& out) {
  mock.stats.stream_opened(b.key);
  const bool ok = co_await out.write(std::string_view(body).substr(0, body.size() / 2));
  mock.stats.stream_closed(b.key, ok ? StreamEnd::dropped : StreamEnd::cancelled);
  if (ok) throw_drop();
}

}  // namespace

asio::awaitable<void> wait_like_generation(const Behaviour& b, std::size_t tokens) {
  co_await sleep_for(b.delay);
  co_await sleep_for(token_time(b, tokens > 0 ? tokens - 1 : 0));
}

// The StreamBody is a copyable std::function, so the coroutine gets its own copies of everything.
http::StreamBody paced_stream(Mock& mock, Behaviour b, std::vector<std::string> tokens,
                              std::shared_ptr<StreamFraming> framing) {
  return [&mock, b = std::move(b), tokens = std::move(tokens),
          framing = std::move(framing)](http::BodyWriter& out) {
    return run_stream(mock, b, tokens, framing, out);
  };
}

http::StreamBody dripping_body(Mock& mock, Behaviour b) {
  b.drip = true;
  return paced_stream(mock, std::move(b), {}, std::make_shared<Whitespace>());
}

http::StreamBody truncated_body(Mock& mock, Behaviour b, std::string body) {
  return [&mock, b = std::move(b), body = std::move(body)](http::BodyWriter& out) {
    return run_truncated(mock, b, body, out);
  };
}

}  // namespace aas::mockllm
