#include "limits/limiter.hpp"

#include <utility>

namespace aas::limits {

std::string_view label(Limit limit) noexcept {
  switch (limit) {
    case Limit::requests_per_minute: return "rpm";
    case Limit::tokens_per_minute: return "tpm";
    case Limit::concurrent_streams: return "concurrency";
    case Limit::daily_budget: return "budget_daily";
    case Limit::monthly_budget: return "budget_monthly";
  }
  return "unknown";
}

Grant& Grant::operator=(Grant&& o) noexcept {
  if (this != &o) {
    if (owner_) settle(ask_.tokens, ask_.cost_micros);
    owner_ = std::exchange(o.owner_, nullptr);
    user_ = std::move(o.user_);
    ask_ = o.ask_;
    day_ = std::move(o.day_);
    month_ = std::move(o.month_);
    id_ = std::move(o.id_);
  }
  return *this;
}

Grant::~Grant() {
  if (owner_) settle(ask_.tokens, ask_.cost_micros);
}

void Grant::settle(std::int64_t used_tokens, std::int64_t used_cost_micros) {
  if (!owner_) return;
  Limiter* owner = std::exchange(owner_, nullptr);
  owner->settle(*this, used_tokens, used_cost_micros);
}

}  // namespace aas::limits
