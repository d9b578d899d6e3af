#include "chat/accounting.hpp"

#include "llm/token_estimate.hpp"

#include <algorithm>

namespace aas::chat {

Accounting::Accounting(store::Store& store, limits::Limiter& limiter, const limits::Policies& policies,
                       AccountingOptions options, Observer on_recorded)
    : limiter_(limiter),
      policies_(policies),
      options_(options),
      on_recorded_(std::move(on_recorded)),
      overrides_([&store](std::string_view user) { return store.get_limit_override(user); }) {}

Result<limits::Policy> Accounting::policy_for(std::string_view user_id,
                                              const std::vector<std::string>& roles) {
  auto override_ = overrides_.get(user_id);
  if (!override_) return override_.error();
  return policies_.resolve(std::string(user_id), roles, *override_);
}

void Accounting::override_changed(std::string_view user_id) {
  overrides_.forget(user_id);
  if (announce_override_) announce_override_(user_id);
}

std::int64_t Accounting::output_cap(const llm::Model& model, std::optional<int> requested) const {
  std::int64_t cap = options_.max_output_tokens;
  if (model.max_output_tokens) cap = std::min(cap, *model.max_output_tokens);
  if (requested && *requested > 0) cap = std::min<std::int64_t>(cap, *requested);
  return cap;
}

Result<limits::Grant> Accounting::admit(std::string_view user_id, const std::vector<std::string>& roles,
                                        const llm::Model& model, llm::ChatRequest& req, bool stream,
                                        std::int64_t* prompt_tokens) {
  const std::int64_t counted = llm::count_request_tokens(req);
  if (prompt_tokens) *prompt_tokens = counted;
  return admit_counted(user_id, roles, model, req, stream, counted);
}

Result<limits::Grant> Accounting::admit_counted(std::string_view user_id, const std::vector<std::string>& roles,
                                                const llm::Model& model, llm::ChatRequest& req, bool stream,
                                                std::int64_t prompt_tokens) {
  return admit_usage(user_id, roles, model, worst_case(model, req, prompt_tokens), stream);
}

std::optional<Result<limits::Grant>> Accounting::admit_now(std::string_view user_id,
                                                           const std::vector<std::string>& roles,
                                                           const llm::Model& model, llm::ChatRequest& req,
                                                           bool stream) {
  if (auto refused = model_refused(roles, model)) return Result<limits::Grant>(std::move(*refused));
  auto override_ = overrides_.peek(user_id);
  if (!override_) return std::nullopt;
  const limits::Policy policy = policies_.resolve(std::string(user_id), roles, *override_);
  if (limiter_.may_block(user_id, policy)) return std::nullopt;
  return reserve(user_id, model, worst_case(model, req, llm::count_request_tokens(req)), stream, policy);
}

Result<limits::Grant> Accounting::admit_usage(std::string_view user_id, const std::vector<std::string>& roles,
                                              const llm::Model& model, const llm::Usage& worst, bool stream) {
  if (auto refused = model_refused(roles, model)) return std::move(*refused);
  auto policy = policy_for(user_id, roles);
  if (!policy) return policy.error();
  return reserve(user_id, model, worst, stream, *policy);
}

std::optional<Error> Accounting::model_refused(const std::vector<std::string>& roles, const llm::Model& model) {
  if (limits::model_allowed(roles, model.name)) return std::nullopt;
  return make_error(errc::forbidden, "this API key may not use model '" + model.name + "'");
}

llm::Usage Accounting::worst_case(const llm::Model& model, llm::ChatRequest& req, std::int64_t prompt_tokens) const {
  const std::int64_t max_output = output_cap(model, req.max_tokens);
  req.max_tokens = static_cast<int>(max_output);
  llm::Usage worst;
  worst.input_tokens = prompt_tokens;
  worst.output_tokens = max_output;
  return worst;
}

Result<limits::Grant> Accounting::reserve(std::string_view user_id, const llm::Model& model, const llm::Usage& worst,
                                          bool stream, const limits::Policy& policy) {
  limits::Ask ask;
  ask.tokens = worst.input_tokens + worst.output_tokens;
  ask.cost_micros = llm::cost_micros(model.pricing, worst).value_or(0);
  ask.stream = stream;
  return limiter_.acquire(user_id, policy, ask);
}

domain::UsageRecord Accounting::ledger_row(const CallOutcome& call) {
  domain::UsageRecord r;
  r.kind = call.kind;
  r.user_id = call.user_id;
  r.conversation_id = call.conversation_id;
  r.model = call.model ? call.model->name : std::string();
  r.deployment = call.deployment;
  r.provider = call.provider;
  r.input_tokens = call.usage.input_tokens;
  r.output_tokens = call.usage.output_tokens;
  r.cached_input_tokens = call.usage.cached_input_tokens;
  r.cache_write_tokens = call.usage.cache_write_tokens;
  r.reasoning_tokens = call.usage.reasoning_tokens;
  r.cost_micros = call.cost_micros;
  r.latency_ms = call.latency_ms;
  r.ttft_ms = call.ttft_ms;
  r.status = call.status;
  r.estimated = call.usage.estimated;
  r.request_id = call.request_id;
  return r;
}

void Accounting::recorded(limits::Grant& grant, const CallOutcome& call) {
  grant.settle(call.usage.input_tokens + call.usage.output_tokens, call.cost_micros.value_or(0));
  if (on_recorded_) on_recorded_(call);
}

void Accounting::recorded(const CallOutcome& call) {
  if (on_recorded_) on_recorded_(call);
}

}  // namespace aas::chat
