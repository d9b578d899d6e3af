#include "llm/providers/anthropic_wire.hpp"

#include "llm/token_estimate.hpp"

#include <boost/json/serialize.hpp>

namespace aas::llm::anthropic_wire {

namespace json = boost::json;
using wire::get_array;
using wire::get_int;
using wire::get_object;
using wire::get_string;

namespace {

constexpr std::string_view vendor = "anthropic";

wire::VendorError read_error(const json::object& body) {
  wire::VendorError v;
  if (const json::object* error = get_object(body, "error")) {
    v.type = std::string(get_string(*error, "type").value_or(""));
    v.message = std::string(get_string(*error, "message").value_or(""));
  }
  return v;
}

// The HTTP status Anthropic documents for each error type; used for errors that arrive inside a
// 200 stream, so that retry decisions treat them like the same error before the stream.
int status_of(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error and whatever is added later
}

Error in_band_error(const json::object& body) {
  const wire::VendorError v = read_error(body);
  return wire::error_from_status(vendor, status_of(v.type), {}, v, TimePoint{});
}

}  // namespace

std::string build_request(const ChatRequest& req, bool stream, const RequestOptions& opts) {
  json::object body;
  body["model"] = req.model;
  body["max_tokens"] =
      req.max_tokens.value_or(opts.default_max_tokens.value_or(fallback_max_tokens));

  std::string system;
  json::array messages;
  std::string last_role;
  for (const ChatMessage& m : req.messages) {
    if (m.role == "system") {
      // There is no system role in Messages: all system text goes to the top-level field.
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    if (m.role == last_role && !messages.empty()) {
      json::string& content = messages.back().as_object()["content"].as_string();
      content.append("\n\n");
      content.append(m.content);
      continue;
    }
    messages.push_back(json::object{{"role", m.role}, {"content", m.content}});
    last_role = m.role;
  }
  body["messages"] = std::move(messages);
  if (!system.empty()) body["system"] = system;
  if (req.temperature) body["temperature"] = *req.temperature;
  if (stream) body["stream"] = true;
  return json::serialize(body);
}

std::vector<http::Header> build_headers(const std::string* api_key, bool stream,
                                        const std::vector<http::Header>& extra) {
  std::vector<http::Header> headers;
  headers.push_back({"content-type", "application/json"});
  headers.push_back({"accept", stream ? "text/event-stream" : "application/json"});
  headers.push_back({"anthropic-version", std::string(api_version)});
  if (api_key && !api_key->empty()) headers.push_back({"x-api-key", *api_key});
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

std::string normalise_finish_reason(std::string_view reason) {
  if (reason == "end_turn" || reason == "stop_sequence") return "stop";
  if (reason == "max_tokens" || reason == "model_context_window_exceeded") return "length";
  if (reason == "tool_use") return "tool_calls";
  if (reason == "refusal") return "content_filter";
  return "other";  // pause_turn and whatever is added later
}

Result<Completion> parse_response(std::string_view body, const ChatRequest& req) {
  const auto parsed = wire::parse_json_object(body);
  if (!parsed) return wire::malformed(vendor, "response body is not a JSON object");
  const json::object& o = parsed->get_object();
  if (get_string(o, "type") == "error") return in_band_error(o);
  const json::array* content = get_array(o, "content");
  if (!content) return wire::malformed(vendor, "response has no content");

  Completion c;
  for (const json::value& block : *content) {
    const json::object* b = block.if_object();
    if (b && get_string(*b, "type") == "text") c.content += get_string(*b, "text").value_or("");
  }
  c.model = std::string(get_string(o, "model").value_or(req.model));
  c.finish_reason = normalise_finish_reason(get_string(o, "stop_reason").value_or(""));
  if (const json::object* usage = get_object(o, "usage")) {
    const std::int64_t read = get_int(*usage, "cache_read_input_tokens").value_or(0);
    const std::int64_t write = get_int(*usage, "cache_creation_input_tokens").value_or(0);
    c.usage.input_tokens = get_int(*usage, "input_tokens").value_or(0) + read + write;
    c.usage.cached_input_tokens = read;
    c.usage.cache_write_tokens = write;
    c.usage.output_tokens = get_int(*usage, "output_tokens").value_or(0);
  } else {
    c.usage.input_tokens = estimate_prompt_tokens(req.messages);
    c.usage.output_tokens = estimate_tokens(c.content);
    c.usage.estimated = true;
  }
  return c;
}

Error map_error(int status, const std::vector<http::Header>& headers, std::string_view body,
                TimePoint now) {
  wire::VendorError v;
  if (const auto parsed = wire::parse_json_object(body)) {
    v = read_error(parsed->get_object());
  } else {
    v.message = std::string(body.substr(0, 300));  // a proxy's HTML or plain text page
  }
  return wire::error_from_status(vendor, status, headers, v, now);
}

void StreamDecoder::read_usage(const json::object& u) {
  // message_delta figures are cumulative (they replace, never add to, earlier ones).
  const auto input = get_int(u, "input_tokens");
  const auto read = get_int(u, "cache_read_input_tokens");
  const auto write = get_int(u, "cache_creation_input_tokens");
  if (input) input_ = *input;
  if (read) cache_read_ = *read;
  if (write) cache_write_ = *write;
  if (input || read || write) {
    progress_.usage.input_tokens = input_ + cache_read_ + cache_write_;
    progress_.usage.cached_input_tokens = cache_read_;
    progress_.usage.cache_write_tokens = cache_write_;
    progress_.input_reported = true;
  }
  if (auto n = get_int(u, "output_tokens")) progress_.usage.output_tokens = *n;
}

Result<std::string> StreamDecoder::feed(const SseEvent& ev) {
  if (progress_.terminated) return std::string();
  const auto parsed = wire::parse_json_object(ev.data);
  if (!parsed) {
    if (ev.event == "ping") return std::string();  // whatever a heartbeat carries
    return wire::malformed(vendor,
                           "stream event '" + ev.event.substr(0, 40) + "' is not a JSON object");
  }
  const json::object& data = parsed->get_object();
  // The data names its type as well as the event line does; the data is what the SDKs trust.
  const std::string_view type = get_string(data, "type").value_or(ev.event);

  if (type == "content_block_delta") {
    const json::object* delta = get_object(data, "delta");
    // Only text reaches the answer: thinking, signature and tool-input deltas do not.
    if (delta && get_string(*delta, "type") == "text_delta")
      return std::string(get_string(*delta, "text").value_or(""));
  } else if (type == "content_block_start") {
    const json::object* block = get_object(data, "content_block");
    if (block && get_string(*block, "type") == "text")
      return std::string(get_string(*block, "text").value_or(""));
  } else if (type == "message_start") {
    if (const json::object* message = get_object(data, "message")) {
      progress_.model = std::string(get_string(*message, "model").value_or(""));
      if (const json::object* usage = get_object(*message, "usage")) read_usage(*usage);
    }
  } else if (type == "message_delta") {
    if (const json::object* delta = get_object(data, "delta")) {
      if (auto reason = get_string(*delta, "stop_reason"))
        progress_.finish_reason = normalise_finish_reason(*reason);
    }
    if (const json::object* usage = get_object(data, "usage")) {
      read_usage(*usage);
      if (usage->contains("output_tokens")) progress_.output_reported = true;
    }
  } else if (type == "message_stop") {
    progress_.terminated = true;
  } else if (type == "error") {
    return in_band_error(data);
  }
  // ping, content_block_stop and event types added later carry nothing we use.
  return std::string();
}

}  // namespace aas::llm::anthropic_wire
