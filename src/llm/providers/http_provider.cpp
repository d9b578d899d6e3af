#include "llm/providers/http_provider.hpp"

#include "http/client.hpp"
#include "llm/providers/wire_common.hpp"
#include "llm/sse_parser.hpp"

#include <spdlog/spdlog.h>

namespace aas::llm {

namespace asio = boost::asio;

namespace {

bool is_success(int status) { return status >= 200 && status < 300; }

// A transport failure keeps its kind (unavailable, upstream_timeout; an answer too large to buffer
// is already the upstream's doing, upstream_error, in the HTTP client) and names the vendor.
Error transport_error(std::string_view vendor, Error e) {
  e.detail = std::string(vendor) + ": " + e.detail;
  return e;
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + with.size())) {
    text.replace(pos, what.size(), with);
  }
}

}  // namespace

const Clock& default_provider_clock() {
  static const SystemClock clock;
  return clock;
}

HttpProvider::HttpProvider(std::shared_ptr<http::HttpClient> client, ProviderOptions options,
                           const Clock& clock)
    : client_(std::move(client)),
      options_(std::move(options)),
      clock_(clock),
      keys_(options_.api_keys, clock, options_.key_policy) {}

HttpProvider::~HttpProvider() = default;

http::ClientRequest HttpProvider::make_request(std::string path, std::string body, bool stream,
                                               const std::optional<KeyPool::Lease>& lease) const {
  http::ClientRequest r;
  r.method = "POST";
  r.url = wire::join_url(options_.base_url, path);
  r.headers = request_headers(lease ? &lease->key : nullptr, stream);
  r.body = std::move(body);
  r.first_byte_timeout = options_.first_byte_timeout;
  r.total_timeout = options_.total_timeout;
  return r;
}

Error HttpProvider::failed(const std::optional<KeyPool::Lease>& lease, Error e) {
  if (!lease) return e;
  // Vendor text has been through redact_secrets; this catches the exact key whatever its shape.
  replace_all(e.detail, lease->key, "[redacted]");
  replace_all(e.message, lease->key, "[redacted]");
  if (const auto rest = keys_.report_failure(lease->index, e)) {
    spdlog::warn("{}: API key #{} got HTTP {}; resting it for {} s ({} of {} keys available)",
                 name(), lease->index + 1, e.upstream_status.value_or(0), rest->count(),
                 keys_.available(), keys_.size());
  }
  return e;
}

void HttpProvider::succeeded(const std::optional<KeyPool::Lease>& lease) {
  if (lease) keys_.report_success(lease->index);
}

template <class T, class Parse>
asio::awaitable<Result<T>> HttpProvider::buffered(std::string path, std::string body, Parse parse) {
  const auto lease = keys_.acquire();
  auto response = co_await client_->request(make_request(std::move(path), std::move(body), false, lease));
  if (!response) co_return transport_error(name(), response.error());

  if (!is_success(response->status)) {
    co_return failed(lease,
                     map_error(response->status, response->headers, response->body, clock_.now()));
  }
  Result<T> parsed = parse(response->body);
  if (!parsed) {
    Error e = parsed.error();
    if (!e.upstream_status) e.upstream_status = response->status;
    co_return failed(lease, std::move(e));
  }
  succeeded(lease);
  co_return parsed;
}

Result<void> HttpProvider::supports(const ChatRequest& req) const {
  if (auto body = request_body(req, false); !body) return body.error();
  return {};
}

asio::awaitable<Result<Completion>> HttpProvider::complete(const ChatRequest& req) {
  auto body = request_body(req, false);
  if (!body) co_return body.error();
  co_return co_await buffered<Completion>(endpoint_path(), std::move(*body),
                                          [&](std::string_view b) { return parse_response(b, req); });
}

// A streamed answer's state, from the request to its outcome: one object on the heap, so that
// once the answer flows nothing of the coroutines that opened it (this provider's, the router's,
// the HTTP client's) is held; the reading is one small coroutine (read_body).
class HttpProvider::Stream final : public OpenStream {
 public:
  Stream(HttpProvider& p, const ChatRequest& r, const ChunkSink& s)
      : provider(p), req(r), sink(&s), parser(p.options_.max_event_bytes) {}

  asio::awaitable<void> read_rest(const ChunkSink& s) override {
    sink = &s;
    opening = false;
    return read_body();
  }
  Result<Completion> outcome(bool) override {
    if (ended) return std::move(*ended);
    return provider.stream_outcome(*this);
  }
  void cancel() override {
    if (body) body->cancel();
  }

  // Reads the body until it ends or, while opening, until a piece reached the sink.
  asio::awaitable<void> read_body() {
    while (!body->done()) {
      auto read = co_await body->read();
      if (!read) transport = std::move(read.error());
      if (opening && delivered) break;
    }
  }

  void on_head(const http::ClientResponse& head) {
    status = head.status;
    if (!is_success(status)) head_headers = head.headers;  // for map_error only
    const auto type = wire::find_header(head.headers, "content-type");
    json_answer = is_success(status) && type && type->starts_with("application/json");
  }

  bool on_body(std::string_view bytes) {
    if (!is_success(status) || json_answer) {
      const ProviderOptions& o = provider.options_;
      const std::size_t limit = json_answer ? o.max_event_bytes : o.max_error_body_bytes;
      buffered.append(bytes.substr(0, limit - std::min(limit, buffered.size())));
      return buffered.size() < limit;
    }
    if (auto fed = parser.feed(bytes, [this](SseEvent&& ev) { on_event(std::move(ev)); }); !fed)
      failure = std::move(fed.error());
    // The first piece reached the caller: the stream is handed on (see read_body).
    if (opening && delivered) body->pause();
    // After the end marker we keep reading, so that the connection ends cleanly and is reused.
    return !failure && !cancelled;
  }

  void on_event(SseEvent&& ev) {
    if (failure || cancelled) return;  // the rest of this feed is not wanted
    auto decoded = decoder->feed(ev);
    if (!decoded) {
      failure = std::move(decoded.error());
      return;
    }
    if (!decoded->text.empty() || !decoded->logprobs.empty()) {
      const StreamDelta delta{decoded->text, nullptr, decoded->logprobs.empty() ? nullptr : &decoded->logprobs};
      if (!(*sink)(delta)) {
        cancelled = true;
        return;
      }
      content += decoded->text;
      if (!decoded->text.empty()) delivered = true;
    }
    for (const ToolCallDelta& d : decoded->tool_calls) {
      if (!(*sink)(StreamDelta{{}, &d})) {
        cancelled = true;
        return;
      }
      apply_tool_call_delta(tool_calls, d);
      delivered = true;
    }
  }

  HttpProvider& provider;
  const ChatRequest& req;
  const ChunkSink* sink;
  std::optional<KeyPool::Lease> lease;
  std::unique_ptr<wire::StreamDecoder> decoder;
  SseParser parser;
  std::unique_ptr<http::ClientStream> body;
  std::optional<Error> transport;  // the HTTP exchange failed (before or after the head)
  // The outcome of a stream that ended while opening (on the heap: a held stream has none).
  std::unique_ptr<Result<Completion>> ended;
  int status = 0;
  std::vector<http::Header> head_headers;
  bool json_answer = false;  // a compatible server that ignored "stream": true
  std::string buffered;      // the error body, or that JSON answer
  std::string content;       // what reached the sink
  std::vector<ToolCall> tool_calls;  // the tool-call pieces that reached the sink, assembled
  std::optional<Error> failure;
  bool cancelled = false;
  bool opening = true;
  bool delivered = false;  // a text or tool-call piece reached the sink
};

asio::awaitable<Result<std::unique_ptr<OpenStream>>> HttpProvider::open_stream(const ChatRequest& req,
                                                                              const ChunkSink& sink) {
  auto s = std::make_unique<Stream>(*this, req, sink);
  {
    auto body = request_body(req, true);
    if (!body) co_return body.error();
    s->lease = keys_.acquire();
    s->decoder = make_decoder(req);
    http::BodySink on_body = [stream = s.get()](std::string_view bytes) { return stream->on_body(bytes); };
    auto request = make_request(endpoint_path(), std::move(*body), true, s->lease);
    auto opened = co_await client_->open(std::move(request), std::move(on_body));
    if (opened) {
      s->on_head(opened->head);
      s->body = std::move(opened->body);
    } else {
      s->transport = std::move(opened.error());
    }
  }
  if (s->body) co_await s->read_body();
  if (s->body && !s->body->done()) co_return std::unique_ptr<OpenStream>(std::move(s));
  // Ended while opening: an error is the open's (the router may retry it, unless it delivered).
  Result<Completion> outcome = stream_outcome(*s);
  if (!outcome) co_return outcome.error();
  s->ended = std::make_unique<Result<Completion>>(std::move(outcome));
  co_return std::unique_ptr<OpenStream>(std::move(s));
}

asio::awaitable<Result<Completion>> HttpProvider::stream(const ChatRequest& req, const ChunkSink& sink) {
  return stream_through(*this, req, sink);
}

Result<Completion> HttpProvider::stream_outcome(Stream& s) {
  const ChatRequest& req = s.req;
  const wire::StreamProgress& progress = s.decoder->progress();
  if (s.cancelled) {
    // The caller went away: what it received is the answer, billed as well as we know.
    succeeded(s.lease);
    Completion c;
    c.content = std::move(s.content);
    c.tool_calls = std::move(s.tool_calls);
    c.model = progress.model.empty() ? req.model : progress.model;
    c.finish_reason = "cancelled";
    c.usage = wire::complete_usage(progress, req, c.content, c.tool_calls);
    return c;
  }
  if (s.status != 0 && !is_success(s.status)) {
    return failed(s.lease, map_error(s.status, s.head_headers, s.buffered, clock_.now()));
  }
  if (s.failure) {
    if (!s.failure->upstream_status) s.failure->upstream_status = s.status;
    return failed(s.lease, std::move(*s.failure));
  }
  if (s.json_answer) {
    if (s.transport) return transport_error(name(), std::move(*s.transport));
    auto completion = parse_response(s.buffered, req);
    if (!completion) {
      Error e = completion.error();
      if (!e.upstream_status) e.upstream_status = s.status;
      return failed(s.lease, std::move(e));
    }
    succeeded(s.lease);
    const ChunkSink& sink = *s.sink;
    if (!completion->content.empty() &&
        !sink(StreamDelta{completion->content, nullptr, completion->logprobs.empty() ? nullptr : &completion->logprobs}))
      completion->finish_reason = "cancelled";
    // The calls of a buffered answer go to the sink as OpenAI streams them: one piece each.
    for (std::size_t i = 0; i < completion->tool_calls.size() && completion->finish_reason != "cancelled"; ++i) {
      const ToolCall& call = completion->tool_calls[i];
      const ToolCallDelta d{static_cast<int>(i), call.id, call.name, call.arguments};
      if (!sink(StreamDelta{{}, &d})) completion->finish_reason = "cancelled";
    }
    return completion;
  }
  if (s.transport && !progress.finished()) {
    Error e = transport_error(name(), std::move(*s.transport));
    if (!s.content.empty() || !s.tool_calls.empty()) {
      // The upstream was reachable and answering: a connection lost part way is its failure
      // (as a missing end marker is), not "unavailable".
      if (e.code == errc::unavailable) {
        e.code = errc::upstream_error;
        e.message = "the model provider's answer broke off";
      }
      e.detail += " (the stream broke after part of the answer was sent)";
    }
    return e;
  }
  if (!progress.finished()) {
    Error e = make_error(errc::upstream_error, "the model provider's answer broke off",
                         std::string(name()) + ": the stream ended before its end marker");
    e.upstream_status = s.status;
    return e;
  }
  // A transport error after the finish reason lost nothing of the answer.
  succeeded(s.lease);
  Completion c;
  c.content = std::move(s.content);
  c.tool_calls = std::move(s.tool_calls);
  c.model = progress.model.empty() ? req.model : progress.model;
  c.finish_reason = progress.finish_reason.empty() ? "stop" : progress.finish_reason;
  c.stop_sequence = progress.stop_sequence;
  c.usage = wire::complete_usage(progress, req, c.content, c.tool_calls);
  return c;
}

asio::awaitable<Result<Embeddings>> HttpProvider::embed(const EmbeddingRequest& req) {
  std::string path = embedding_path();
  if (path.empty()) co_return cannot_embed(req.model);
  co_return co_await buffered<Embeddings>(std::move(path), embedding_body(req),
                                          [&](std::string_view b) { return parse_embeddings(b, req); });
}

}  // namespace aas::llm
