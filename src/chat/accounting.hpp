#pragma once
// What every model call goes through before and after, for the chat and the gateway alike:
// the user's limits are checked and the call's worst case reserved before anything is sent
// (admit), and once the call's ledger row is written its grant is settled with what was used
// and observers (metrics) are told (recorded).
#include "chat/model_call.hpp"
#include "limits/limiter.hpp"
#include "limits/override_cache.hpp"
#include "limits/policies.hpp"
#include "llm/models.hpp"
#include "store/store.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::chat {

struct AccountingOptions {
  // The most output a call may produce (sent upstream as max_tokens, and reserved): this, or the
  // model's own maximum when smaller, or what the request asked for when smaller still.
  int max_output_tokens = 4096;
  // The bounds on what comes back from every call, chat and gateway alike.
  CallLimits limits;
};

// What is known of a finished (or failed) call, to make its ledger row.
struct CallOutcome {
  std::string kind = "chat";  // chat | gateway | embedding
  std::string user_id;
  std::vector<std::string> roles;  // the caller's (CallRecord::roles); not in the ledger
  std::optional<std::string> conversation_id;
  const llm::Model* model = nullptr;
  std::string deployment;
  std::string provider;
  llm::Usage usage;
  std::optional<std::int64_t> cost_micros;
  std::int64_t latency_ms = 0;
  std::optional<std::int64_t> ttft_ms;
  std::string status = "complete";  // complete | interrupted | error
  std::string request_id;
  // For metrics, not the ledger: the whole call as the service saw it (from the request's
  // admission to its answer stored) and the part of it not spent waiting for the upstream.
  double total_seconds = 0;
  double overhead_seconds = 0;
  bool cached = false;  // answered from the response cache: no upstream call, no cost
};

class Accounting {
 public:
  using Observer = std::function<void(const CallOutcome&)>;
  Accounting(store::Store& store, limits::Limiter& limiter, const limits::Policies& policies,
             AccountingOptions options, Observer on_recorded = {});

  // Caps req.max_tokens, then reserves the call's worst case (prompt tokens + max output, and
  // its price) against the user's limits. rate_limited / budget_exceeded when a limit refuses.
  // May read the user's override from the store and the limiter's state from Redis: call it on
  // the blocking pool.
  // `prompt_tokens`, when given, gets the prompt's count (what a placeholder is billed at first).
  Result<limits::Grant> admit(std::string_view user_id, const std::vector<std::string>& roles,
                              const llm::Model& model, llm::ChatRequest& req, bool stream,
                              std::int64_t* prompt_tokens = nullptr);

  // As admit(), for a request whose prompt the caller has counted already (llm::count_request_tokens).
  Result<limits::Grant> admit_counted(std::string_view user_id, const std::vector<std::string>& roles,
                                      const llm::Model& model, llm::ChatRequest& req, bool stream,
                                      std::int64_t prompt_tokens);

  // admit() when it needs no I/O — the user's override in memory and a limiter that will not
  // wait (Limiter::may_block) — so an I/O thread may call it; nullopt when it would (then
  // admit() on the blocking pool), with `req` untouched.
  std::optional<Result<limits::Grant>> admit_now(std::string_view user_id, const std::vector<std::string>& roles,
                                                 const llm::Model& model, llm::ChatRequest& req, bool stream);

  // Reserves a call whose worst case is known (an embeddings call: its input tokens).
  Result<limits::Grant> admit_usage(std::string_view user_id, const std::vector<std::string>& roles,
                                    const llm::Model& model, const llm::Usage& worst, bool stream);

  // The most output a call to `model` may ask for (what admit sets as max_tokens).
  std::int64_t output_cap(const llm::Model& model, std::optional<int> requested) const;

  static domain::UsageRecord ledger_row(const CallOutcome& call);

  // After the ledger row is in the store: settle the grant with what was used, tell observers.
  void recorded(limits::Grant& grant, const CallOutcome& call);
  // The same for a call made by the service itself (titles, summaries): no grant to settle.
  void recorded(const CallOutcome& call);

  // The policy in force for a user (GET /api/ai/usage/me). The user's override comes from memory
  // (limits/override_cache.hpp), or from the store the first time: call it on the blocking pool.
  Result<limits::Policy> policy_for(std::string_view user_id, const std::vector<std::string>& roles);

  // This replica changed a user's override in the store: forgotten here at once, and announced
  // (set_override_announcer) so that every replica forgets it.
  void override_changed(std::string_view user_id);
  // Another replica announced that a user's override changed.
  void forget_override(std::string_view user_id) { overrides_.forget(user_id); }
  // How override_changed tells the other replicas (the event bus; may block on the network).
  void set_override_announcer(std::function<void(std::string_view user_id)> announce) {
    announce_override_ = std::move(announce);
  }
  limits::Limiter& limiter() { return limiter_; }
  const CallLimits& call_limits() const { return options_.limits; }

 private:
  // The refusal of a model the caller's roles exclude, if they do.
  static std::optional<Error> model_refused(const std::vector<std::string>& roles, const llm::Model& model);
  // Caps req.max_tokens; the call's worst case with that cap.
  llm::Usage worst_case(const llm::Model& model, llm::ChatRequest& req, std::int64_t prompt_tokens) const;
  Result<limits::Grant> reserve(std::string_view user_id, const llm::Model& model, const llm::Usage& worst,
                                bool stream, const limits::Policy& policy);

  limits::Limiter& limiter_;
  const limits::Policies& policies_;
  AccountingOptions options_;
  Observer on_recorded_;
  limits::OverrideCache overrides_;
  std::function<void(std::string_view)> announce_override_;
};

}  // namespace aas::chat
