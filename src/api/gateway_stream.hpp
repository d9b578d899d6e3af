#pragma once
// A streamed gateway call, whatever the API it is answered in (OpenAI's chat chunks, legacy
// completions, Responses events, Anthropic's message events): the call runs while the channel
// writes, each API's relay turns the pieces into its events, and a call that fails before its
// first piece is answered with its status and the API's error body instead of a stream, so that
// SDKs raise their typed errors (and retry 429/5xx) as for a non-streamed call.
#include "chat/gateway_service.hpp"
#include "http/error_response.hpp"
#include "http/router.hpp"
#include "http/sse.hpp"

#include <functional>
#include <memory>

namespace aas::metrics { class Metrics; }

namespace aas::api {

// Every vendor route's common step: its request, read into our types, admitted for the
// context's user (model, provider support, limits) — refusals answered before any stream starts.
boost::asio::awaitable<Result<chat::AdmittedCall>> admit_call(chat::GatewayService& gateway, const http::Context& ctx,
                                                              std::string model, llm::ChatRequest call, bool stream);
// The same for `n` answers (n > 1): n calls, all admitted or none (GatewayService::admit_each).
boost::asio::awaitable<Result<std::vector<chat::AdmittedCall>>> admit_calls(chat::GatewayService& gateway,
                                                                            const http::Context& ctx, std::string model,
                                                                            llm::ChatRequest call, int n, bool stream);

class StreamRelay : public chat::TurnObserver {
 public:
  explicit StreamRelay(http::SseChannel& channel) : channel_(channel) {}
  void on_gone(std::function<void()> f) override { channel_.on_gone(std::move(f)); }
  // True once the first event went out: from then on a failure is an in-stream error.
  virtual bool started() const = 0;
  // The answer's closing events. With several choices: the last one's, its usage that of all.
  virtual void finish(const chat::DirectResult& result) = 0;
  // Several choices (n > 1) stream one after the other: the choice before the last ended with
  // `result`, the pieces that follow belong to the next. Relays of APIs without choices never
  // get more than one call.
  virtual void next_choice(const chat::DirectResult&) {}
  // A failure after the stream started (or whose error response could not replace it).
  virtual void fail(const Error& e) = 0;

 protected:
  http::SseChannel& channel_;
};

using MakeRelay = std::function<std::unique_ptr<StreamRelay>(http::SseChannel&)>;

// The call's outcome, for a caller that keeps a record of it (the Responses API): the answer
// (possibly interrupted), or the error of a call that produced none.
boost::asio::awaitable<Result<chat::DirectResult>> run_stream(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                                              chat::AdmittedCall call, http::BodyWriter& out,
                                                              http::ErrorShape shape, MakeRelay make_relay);

// Several calls as the choices of one stream (n > 1), one after the other through one relay;
// a failure ends the stream (the calls not started are released, nothing billed for them).
boost::asio::awaitable<void> relay_streams(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                           std::vector<chat::AdmittedCall> calls, http::BodyWriter& out,
                                           http::ErrorShape shape, MakeRelay make_relay);

// run_stream for a caller that keeps no record: the stream body of an sse_response.
inline boost::asio::awaitable<void> relay_stream(chat::GatewayService& gateway, metrics::Metrics& metrics,
                                                 chat::AdmittedCall call, http::BodyWriter& out, http::ErrorShape shape,
                                                 MakeRelay make_relay) {
  std::vector<chat::AdmittedCall> calls;
  calls.push_back(std::move(call));
  return relay_streams(gateway, metrics, std::move(calls), out, shape, std::move(make_relay));
}

}  // namespace aas::api
