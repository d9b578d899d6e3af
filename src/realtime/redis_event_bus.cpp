#include "realtime/redis_event_bus.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/spdlog.h>

namespace aas::realtime {

namespace json = boost::json;

std::string to_json(const Event& e) {
  json::object o{{"type", e.type}, {"userId", e.user_id}, {"conversationId", e.conversation_id}};
  if (!e.message_id.empty()) o["messageId"] = e.message_id;
  if (!e.status.empty()) o["status"] = e.status;
  if (!e.content.empty()) o["message"] = e.content;
  if (!e.model.empty()) o["model"] = e.model;
  if (e.input_tokens) o["inputTokens"] = *e.input_tokens;
  if (e.output_tokens) o["outputTokens"] = *e.output_tokens;
  if (!e.knowledge_base_id.empty()) o["knowledgeBaseId"] = e.knowledge_base_id;
  return json::serialize(o);
}

std::optional<Event> from_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  const auto field = [&](std::string_view key) -> std::string {
    const json::value* f = o.if_contains(key);
    return f && f->is_string() ? std::string(f->get_string()) : std::string();
  };
  const auto number = [&](std::string_view key) -> std::optional<std::int64_t> {
    const json::value* f = o.if_contains(key);
    if (f && f->is_int64()) return f->get_int64();
    if (f && f->is_uint64()) return static_cast<std::int64_t>(f->get_uint64());
    return std::nullopt;
  };
  Event e{field("type"),    field("userId"), field("conversationId"), field("messageId"), field("status"),
          field("message"), field("model"),  number("inputTokens"),     number("outputTokens"),
          field("knowledgeBaseId")};
  if (e.type.empty()) return std::nullopt;
  return e;
}

RedisEventBus::RedisEventBus(redis::Client& redis, std::string channel)
    : redis_(redis), channel_(std::move(channel)) {
  subscriber_ = std::make_unique<redis::Subscriber>(
      redis.options(), std::vector<std::string>{channel_}, [this](const std::string&, const std::string& payload) {
        if (auto e = from_json(payload)) deliver(*e);
      });
}

RedisEventBus::~RedisEventBus() { subscriber_.reset(); }

void RedisEventBus::deliver(const Event& event) {
  std::vector<Handler> handlers;
  {
    std::lock_guard lock(mu_);
    handlers = handlers_;
  }
  for (const auto& h : handlers) h(event);
}

void RedisEventBus::publish(const Event& event) {
  auto r = redis_.command({"PUBLISH", channel_, to_json(event)});
  if (r) {
    degraded_ = false;
    return;
  }
  if (!degraded_.exchange(true))
    spdlog::warn("events: redis unavailable ({}); events reach this replica only", r.error().detail);
  deliver(event);
}

void RedisEventBus::subscribe(Handler handler) {
  std::lock_guard lock(mu_);
  handlers_.push_back(std::move(handler));
}

}  // namespace aas::realtime
