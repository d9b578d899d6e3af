#include "chat/recorder.hpp"

#include "core/offload.hpp"
#include "llm/token_estimate.hpp"
#include "realtime/event_bus.hpp"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace aas::chat {

namespace asio = boost::asio;

namespace {

std::string_view known_finish_reason(std::string_view reason) {
  // max_steps: the agent's step limit ended the turn (agent/agent_loop.hpp).
  for (std::string_view known : {"stop", "length", "tool_calls", "content_filter", "cancelled", "stopped", "max_steps"})
    if (reason == known) return known;
  return "other";
}

// Metadata the store keeps as JSON text; every value written here is one of a fixed set of
// words, so plain concatenation cannot produce invalid JSON.
std::string answer_metadata(const llm::Usage& usage, const CallResult& r, int context_omitted,
                            const std::string& citations) {
  std::string m = std::string("{\"usageEstimated\":") + (usage.estimated ? "true" : "false");
  // Serialized by citations_json: valid JSON by construction.
  if (!citations.empty()) m += ",\"citations\":" + citations;
  if (context_omitted > 0) m += ",\"contextOmitted\":" + std::to_string(context_omitted);
  // An interrupted or failed answer has no finish reason: its error says what happened.
  if (r.end != CallEnd::interrupted && r.end != CallEnd::failed)
    m += ",\"finishReason\":\"" + finish_reason_of(r) + "\"";
  if (r.error && r.end != CallEnd::stopped) m += ",\"error\":\"" + std::string(code_name(r.error->code)) + "\"";
  return m + "}";
}

}  // namespace

llm::Usage billed_usage(const CallResult& r, const llm::ChatRequest& request) {
  if (!r.called) return {};
  if (r.end == CallEnd::failed) {
    // A model that did not answer in time had the prompt and may have worked on it: the prompt
    // is billed (estimated); any other failure before the first word used nothing we can bill.
    if (!r.error || r.error->code != errc::upstream_timeout) return {};
    llm::Usage u;
    u.input_tokens = llm::count_request_tokens(request);
    u.estimated = true;
    return u;
  }
  if (r.usage && (r.end == CallEnd::complete || r.usage->input_tokens > 0)) return *r.usage;
  llm::Usage u;
  u.input_tokens = llm::count_request_tokens(request);
  u.output_tokens = llm::count_text_tokens(request.model, r.text) +
                    llm::count_tool_call_tokens(request.model, r.tool_calls);
  u.estimated = true;
  return u;
}

std::string_view recorded_status(CallEnd end) noexcept {
  switch (end) {
    case CallEnd::complete: return "complete";
    case CallEnd::failed: return "error";
    default: return "interrupted";
  }
}

std::string finish_reason_of(const CallResult& r) {
  switch (r.end) {
    case CallEnd::complete: return std::string(known_finish_reason(r.finish_reason));
    case CallEnd::stopped: return "stopped";
    case CallEnd::cancelled: return "cancelled";
    default: return "interrupted";
  }
}

namespace {

// The outcome of a chat answer, as a new message or over its placeholder (the two share these
// fields); the ledger row goes with it.
template <class M>
void fill_answer(M& m, const CallRecord& what, const CallResult& r, const Recorded& out, domain::UsageRecord row) {
  m.content = r.text;
  m.status = *domain::message_status_from_string(out.status);
  m.input_tokens = out.usage.input_tokens;
  m.output_tokens = out.usage.output_tokens;
  m.cost_micros = out.cost_micros;
  m.latency_ms = r.latency_ms;
  m.metadata = answer_metadata(out.usage, r, what.context_omitted, what.citations_json);
  m.tool_calls = r.tool_calls;
  m.usage = std::move(row);
}

}  // namespace

asio::awaitable<Result<Recorded>> Recorder::record(const CallRecord& what, const CallResult& r) {
  // The two common writes — a chat answer over its placeholder, a gateway call's ledger row — are
  // queued for the store's group commit without holding a pool thread through the commit (issue
  // 16: a batch then holds every turn waiting, not only as many as the pool has threads); an
  // appended answer is written as record_now() writes it.
  Recording rec;
  auto work = [&](OffloadDone<Result<void>> done) {
    rec = recording(what, r);
    if (!what.placeholder_id && what.append_message) {
      auto written = write_answer(what, r, rec, {});
      if (!written) return done(written.error());
      rec.out.message = std::move(written->front());
      return done(Result<void>{});
    }
    if (!what.placeholder_id) {
      store::Store::Then<void> then = [done](Result<void> w) { done(std::move(w)); };
      return store_.record_usage_then(std::move(rec.row), std::move(then));  // last: `rec` is the writer's now
    }
    domain::MessageUpdate update;
    fill_answer(update, what, r, rec.out, std::move(rec.row));
    store::Store::Then<domain::Message> then = [&rec, done](Result<domain::Message> m) {
      if (!m) return done(m.error());
      rec.out.message = std::move(*m);
      done(Result<void>{});
    };
    store_.update_message_then(what.user_id, *what.placeholder_id, std::move(update), std::move(then));  // last
  };
  auto written = co_await offload_then<Result<void>>(blocking_, work);
  if (!written) co_return written.error();
  if (settle_blocks_ && !settle_blocks_()) co_return settle(what, r, rec);
  co_return co_await offload(blocking_, [&] { return settle(what, r, rec); });
}

Result<Recorded> Recorder::record_now(const CallRecord& what, const CallResult& r,
                                      const std::vector<domain::NewMessage>& following) {
  Recording rec = recording(what, r);
  if (what.placeholder_id || what.append_message) {
    auto written = write_answer(what, r, rec, following);
    if (!written) return written.error();
    rec.out.message = std::move(written->front());
    rec.out.following.assign(std::make_move_iterator(written->begin() + 1), std::make_move_iterator(written->end()));
  } else if (auto w = store_.record_usage(rec.row); !w) {
    return w.error();
  }
  return settle(what, r, rec);
}

Result<std::vector<domain::Message>> Recorder::write_answer(const CallRecord& what, const CallResult& r, Recording& rec,
                                                            const std::vector<domain::NewMessage>& following) {
  // The answer first, then what follows it, all in one transaction.
  Result<std::vector<domain::Message>> written = make_error(errc::internal, "internal error");
  if (what.placeholder_id) {
    domain::MessageUpdate update;
    fill_answer(update, what, r, rec.out, std::move(rec.row));
    if (following.empty()) {
      auto one = store_.update_message(what.user_id, *what.placeholder_id, update);
      if (one) written = std::vector<domain::Message>{std::move(*one)};
      else written = one.error();
    } else {
      written = store_.update_message_and_append(what.user_id, *what.placeholder_id, update, following);
    }
  } else {
    std::vector<domain::NewMessage> all(1);
    domain::NewMessage& m = all.front();
    m.conversation_id = what.conversation_id.value_or("");
    m.role = domain::Role::assistant;
    m.model = what.model->name;
    fill_answer(m, what, r, rec.out, std::move(rec.row));
    if (following.empty()) {
      auto one = store_.append_message(what.user_id, m);
      if (one) written = std::vector<domain::Message>{std::move(*one)};
      else written = one.error();
    } else {
      all.insert(all.end(), following.begin(), following.end());
      written = store_.append_messages(what.user_id, all);
    }
  }
  return written;
}

Recorder::Recording Recorder::recording(const CallRecord& what, const CallResult& r) const {
  const llm::Model& model = *what.model;
  Recording rec;
  Recorded& out = rec.out;
  // A call with no request to estimate from (embeddings) always has the provider's figures.
  out.usage = r.cached || !what.request ? r.usage.value_or(llm::Usage{}) : billed_usage(r, *what.request);
  out.cost_micros = r.cached ? std::optional<std::int64_t>(0) : llm::cost_micros(model.pricing, out.usage);
  out.status = std::string(recorded_status(r.end));

  CallOutcome& call = rec.call;
  call.kind = what.kind;
  call.user_id = what.user_id;
  call.roles = what.roles;
  call.conversation_id = what.conversation_id;
  call.model = &model;
  call.deployment = r.cached ? "cache" : r.deployment;
  call.provider = r.cached ? "cache" : r.provider;
  call.usage = out.usage;
  call.cost_micros = out.cost_micros;
  call.latency_ms = r.latency_ms;
  call.ttft_ms = r.ttft_ms;
  call.status = out.status;
  call.request_id = what.request_id;
  call.cached = r.cached;
  if (r.end != CallEnd::complete && r.end != CallEnd::stopped && r.error) {
    spdlog::info("{} request_id={} model={} {}: {}", what.kind, what.request_id, model.name, to_string(r.end),
                 r.error->detail.empty() ? r.error->message : r.error->detail);
  }
  rec.row = Accounting::ledger_row(call);
  return rec;
}

Recorded Recorder::settle(const CallRecord& what, const CallResult& r, Recording& rec) {
  CallOutcome& call = rec.call;
  if (what.admitted_at != std::chrono::steady_clock::time_point{}) {
    const std::chrono::duration<double> total = std::chrono::steady_clock::now() - what.admitted_at;
    call.total_seconds = total.count();
    call.overhead_seconds = std::max(0.0, (total - r.upstream).count());
  }
  if (what.grant) accounting_.recorded(*what.grant, call);
  else accounting_.recorded(call);
  Recorded& out = rec.out;
  if (out.message) {
    realtime::Event done{"message.completed", what.user_id, out.message->conversation_id, out.message->id,
                         out.status};
    done.content = out.message->content;
    done.model = what.model->name;
    done.input_tokens = out.usage.input_tokens;
    done.output_tokens = out.usage.output_tokens;
    events_.publish(done);
  }
  return std::move(out);
}

}  // namespace aas::chat
