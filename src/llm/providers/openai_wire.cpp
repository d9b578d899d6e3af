#include "llm/providers/openai_wire.hpp"

#include "llm/token_estimate.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace aas::llm::openai_wire {

namespace json = boost::json;
using wire::get_array;
using wire::get_int;
using wire::get_object;
using wire::get_string;

namespace {

constexpr std::string_view vendor = "openai";

Usage read_usage(const json::object& u) {
  Usage out;
  out.input_tokens = get_int(u, "prompt_tokens").value_or(0);
  out.output_tokens = get_int(u, "completion_tokens").value_or(0);
  if (const json::object* d = get_object(u, "prompt_tokens_details"))
    out.cached_input_tokens = get_int(*d, "cached_tokens").value_or(0);
  if (const json::object* d = get_object(u, "completion_tokens_details"))
    out.reasoning_tokens = get_int(*d, "reasoning_tokens").value_or(0);
  return out;
}

wire::VendorError read_error(const json::value& error) {
  wire::VendorError v;
  if (const json::string* s = error.if_string()) {  // {"error": "text"} (Ollama and others)
    v.message = std::string(*s);
  } else if (const json::object* o = error.if_object()) {
    v.type = std::string(get_string(*o, "type").value_or(""));
    v.message = std::string(get_string(*o, "message").value_or(""));
    if (auto code = get_string(*o, "code")) {
      v.code = std::string(*code);
    } else if (auto n = get_int(*o, "code")) {  // some compatible servers send a number
      v.code = std::to_string(*n);
    }
  }
  return v;
}

// An error inside a 200 response or stream has no HTTP status of its own; we give it the status
// OpenAI uses for that kind of error, so that retry decisions treat it alike.
Error in_band_error(const json::value& error) {
  const wire::VendorError v = read_error(error);
  int status = 500;
  if (v.type == "invalid_request_error") status = 400;
  if (v.code == "rate_limit_exceeded" || v.code == "insufficient_quota" || v.type == "tokens" ||
      v.type == "requests")
    status = 429;
  return wire::error_from_status(vendor, status, {}, v, TimePoint{});
}

// The text a message or delta carries; a refusal is shown as the answer, as the model gave it.
std::string content_of(const json::object& message) {
  if (auto content = get_string(message, "content")) return std::string(*content);
  if (auto refusal = get_string(message, "refusal")) return std::string(*refusal);
  return {};
}

}  // namespace

std::string build_request(const ChatRequest& req, bool stream, const RequestOptions& opts) {
  json::object body;
  body["model"] = req.model;
  json::array messages;
  messages.reserve(req.messages.size());
  for (const ChatMessage& m : req.messages) {
    messages.push_back(json::object{{"role", m.role}, {"content", m.content}});
  }
  body["messages"] = std::move(messages);
  if (req.temperature) body["temperature"] = *req.temperature;
  if (const auto max = req.max_tokens ? req.max_tokens : opts.default_max_tokens) {
    body[opts.use_max_completion_tokens ? "max_completion_tokens" : "max_tokens"] = *max;
  }
  if (stream) {
    body["stream"] = true;
    // Without this OpenAI streams no usage at all, and we could only estimate the bill.
    body["stream_options"] = json::object{{"include_usage", true}};
  }
  return json::serialize(body);
}

std::vector<http::Header> build_headers(const std::string* api_key, bool stream,
                                        const std::vector<http::Header>& extra) {
  std::vector<http::Header> headers;
  headers.push_back({"content-type", "application/json"});
  headers.push_back({"accept", stream ? "text/event-stream" : "application/json"});
  // Local servers (Ollama, llama.cpp) run without a key: then no Authorization at all.
  if (api_key && !api_key->empty()) headers.push_back({"authorization", "Bearer " + *api_key});
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

std::string normalise_finish_reason(std::string_view reason) {
  if (reason == "stop" || reason == "length" || reason == "tool_calls" ||
      reason == "content_filter")
    return std::string(reason);
  if (reason == "function_call") return "tool_calls";  // the pre-tools name of the same thing
  return "other";
}

Result<Completion> parse_response(std::string_view body, const ChatRequest& req) {
  const auto parsed = wire::parse_json_object(body);
  if (!parsed) return wire::malformed(vendor, "response body is not a JSON object");
  const json::object& o = parsed->get_object();
  if (const json::value* error = o.if_contains("error"); error && !error->is_null())
    return in_band_error(*error);

  const json::array* choices = get_array(o, "choices");
  if (!choices || choices->empty() || !choices->front().is_object())
    return wire::malformed(vendor, "response has no choices");
  const json::object& choice = choices->front().get_object();
  const json::object* message = get_object(choice, "message");
  if (!message) return wire::malformed(vendor, "response choice has no message");

  Completion c;
  c.content = content_of(*message);
  c.model = std::string(get_string(o, "model").value_or(req.model));
  c.finish_reason = normalise_finish_reason(get_string(choice, "finish_reason").value_or(""));
  if (const json::object* usage = get_object(o, "usage")) {
    c.usage = read_usage(*usage);
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
    if (const json::value* error = parsed->get_object().if_contains("error"))
      v = read_error(*error);
  } else {
    v.message = std::string(body.substr(0, 300));  // a proxy's HTML or plain text page
  }
  Error e = wire::error_from_status(vendor, status, headers, v, now);

  if (status == 429 && !e.retry_after_seconds) {
    // OpenAI's own limit headers: wait for the reset of whichever limit ran out.
    std::optional<int> wait;
    for (const auto& [remaining, reset] :
         {std::pair{"x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"},
          std::pair{"x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"}}) {
      const auto left = wire::find_header(headers, remaining);
      const auto when = wire::find_header(headers, reset);
      if (left && *left == "0" && when) {
        if (const auto s = wire::parse_duration_seconds(*when))
          wait = std::max(wait.value_or(0), *s);
      }
    }
    e.retry_after_seconds = wait;
  }
  if (v.code == "insufficient_quota") {
    // A billing problem, not a rate: waiting does not help, so not rate_limited (which clients
    // and the router treat as "try again later"). upstream_status stays 429, so the key pool
    // still rests this key and another key may have quota.
    e.code = errc::upstream_error;
    e.message = "the model provider refused the request (quota exhausted)";
    e.retry_after_seconds.reset();
  }
  return e;
}

Result<std::string> StreamDecoder::feed(const SseEvent& ev) {
  if (progress_.terminated) return std::string();  // nothing after [DONE] counts
  std::string_view data = ev.data;
  while (!data.empty() && (data.back() == ' ' || data.back() == '\n')) data.remove_suffix(1);
  if (data.empty()) return std::string();
  if (data == "[DONE]") {
    progress_.terminated = true;
    return std::string();
  }

  const auto parsed = wire::parse_json_object(data);
  if (!parsed) return wire::malformed(vendor, "stream chunk is not a JSON object");
  const json::object& chunk = parsed->get_object();
  if (const json::value* error = chunk.if_contains("error"); error && !error->is_null())
    return in_band_error(*error);

  if (progress_.model.empty())
    progress_.model = std::string(get_string(chunk, "model").value_or(""));

  std::string text;
  if (const json::array* choices = get_array(chunk, "choices");
      choices && !choices->empty() && choices->front().is_object()) {
    const json::object& choice = choices->front().get_object();
    if (const json::object* delta = get_object(choice, "delta")) text = content_of(*delta);
    if (auto reason = get_string(choice, "finish_reason"))
      progress_.finish_reason = normalise_finish_reason(*reason);
  }
  // Only the include_usage chunk has a usage object; earlier chunks carry "usage": null.
  if (const json::object* usage = get_object(chunk, "usage")) {
    progress_.usage = read_usage(*usage);
    progress_.input_reported = progress_.output_reported = true;
  }
  return text;
}

}  // namespace aas::llm::openai_wire
