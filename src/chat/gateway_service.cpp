#include "chat/gateway_service.hpp"

#include "llm/token_estimate.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include <variant>

namespace aas::chat {

namespace asio = boost::asio;

namespace {
llm::ChatRequest to_request(const DirectRequest& req, const llm::Model& model) {
  llm::ChatRequest out;
  out.model = model.upstream_model;
  out.messages = req.messages;
  out.temperature = req.temperature;
  out.max_tokens = req.max_tokens;
  out.request_id = req.request_id;
  return out;
}
}  // namespace

Result<const llm::Model*> GatewayService::check(const DirectRequest& req) const {
  if (req.messages.empty()) return make_error(errc::invalid_request, "'messages' must not be empty");
  return models_.find(req.model);
}

asio::awaitable<Result<DirectResult>> GatewayService::complete(DirectRequest req) {
  auto model = check(req);
  if (!model) co_return model.error();
  auto completion = co_await (*model)->provider->complete(to_request(req, **model));
  if (!completion) co_return completion.error();
  DirectResult out;
  out.model = (*model)->name;
  out.content = std::move(completion->content);
  out.finish_reason = completion->finish_reason;
  out.usage = completion->usage;
  out.cost_micros = llm::cost_micros((*model)->pricing, out.usage);
  co_return out;
}

asio::awaitable<Result<DirectResult>> GatewayService::stream(DirectRequest req, TurnObserver& observer) {
  using namespace asio::experimental::awaitable_operators;
  auto model = check(req);
  if (!model) co_return model.error();
  const llm::ChatRequest request = to_request(req, **model);

  DirectResult out;
  out.model = (*model)->name;
  bool client_gone = false;
  const llm::ChunkSink sink = [&](std::string_view text) {
    out.content.append(text);
    if (!observer.delta(text)) client_gone = true;
    return !client_gone;
  };
  std::variant<Result<llm::Completion>, std::monostate> raced =
      co_await ((*model)->provider->stream(request, sink) || observer.gone());

  if (raced.index() == 0 && std::get<0>(raced) && !client_gone) {
    const llm::Completion& c = *std::get<0>(raced);
    out.finish_reason = c.finish_reason;
    out.usage = c.usage;
  } else {
    if (raced.index() == 0 && !std::get<0>(raced)) {
      if (out.content.empty()) co_return std::get<0>(raced).error();  // nothing sent yet: a plain error
      out.interruption = std::get<0>(raced).error();
    } else {
      out.interruption = make_error(errc::unavailable, "the client disconnected");
    }
    // What was used is still billed; without the provider's figures, estimated and flagged.
    out.usage.input_tokens = llm::estimate_prompt_tokens(request.messages);
    out.usage.output_tokens = llm::estimate_tokens(out.content);
    out.usage.estimated = true;
    out.finish_reason = client_gone || raced.index() == 1 ? "cancelled" : "interrupted";
    spdlog::info("gateway stream request_id={} model={} interrupted: {}", req.request_id, out.model,
                 out.interruption->detail.empty() ? out.interruption->message : out.interruption->detail);
  }
  out.cost_micros = llm::cost_micros((*model)->pricing, out.usage);
  co_return out;
}

}  // namespace aas::chat
