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

// One token's entry of logprobs.content[] (or of its top_logprobs); nullopt when malformed.
std::optional<TokenLogprob> read_token_logprob(const json::value& v, bool with_top) {
  const json::object* o = v.if_object();
  const json::value* lp = o ? o->if_contains("logprob") : nullptr;
  if (!o || !lp || !lp->is_number()) return std::nullopt;
  TokenLogprob t;
  t.token = std::string(get_string(*o, "token").value_or(""));
  t.logprob = lp->to_number<double>();
  if (const json::array* bytes = get_array(*o, "bytes"))
    for (const json::value& b : *bytes)
      if (b.is_int64()) t.bytes.push_back(static_cast<int>(b.as_int64()));
  if (with_top)
    if (const json::array* top = get_array(*o, "top_logprobs"))
      for (const json::value& alt : *top)
        if (auto a = read_token_logprob(alt, false)) t.top.push_back(std::move(*a));
  return t;
}

// A choice's logprobs.content (absent or null: none).
Result<std::vector<TokenLogprob>> read_logprobs(const json::object& choice) {
  std::vector<TokenLogprob> out;
  const json::object* logprobs = get_object(choice, "logprobs");
  const json::array* content = logprobs ? get_array(*logprobs, "content") : nullptr;
  if (!content) return out;
  for (const json::value& v : *content) {
    auto t = read_token_logprob(v, true);
    if (!t) return wire::malformed(vendor, "a logprobs entry has no logprob");
    out.push_back(std::move(*t));
  }
  return out;
}

// The text a message or delta carries; a refusal is shown as the answer, as the model gave it.
std::string content_of(const json::object& message) {
  if (auto content = get_string(message, "content")) return std::string(*content);
  if (auto refusal = get_string(message, "refusal")) return std::string(*refusal);
  return {};
}

}  // namespace

namespace {

// A JSON text of ours (a schema, tool arguments) as a JSON object, or an error naming `field`.
Result<json::object> json_object_field(std::string_view text, std::string_view field) {
  if (auto v = wire::parse_json_object(text)) return std::move(v->as_object());
  return make_error(errc::invalid_request, "'" + std::string(field) + "' must be a JSON object");
}

json::value content_json(const ChatMessage& m) {
  if (m.parts.empty()) {
    // An assistant turn that only called tools has no content, which OpenAI writes as null.
    if (m.content.empty() && !m.tool_calls.empty()) return nullptr;
    return json::string(m.content);
  }
  json::array parts;
  for (const ContentPart& p : m.parts) {
    if (p.kind == ContentPart::Kind::text) {
      parts.push_back(json::object{{"type", "text"}, {"text", p.text}});
    } else {
      json::object image{{"url", p.image_url}};
      if (!p.detail.empty()) image["detail"] = p.detail;
      parts.push_back(json::object{{"type", "image_url"}, {"image_url", std::move(image)}});
    }
  }
  return parts;
}

json::value tool_choice_json(std::string_view choice) {
  if (choice == "auto" || choice == "none" || choice == "required") return json::string(choice);
  return json::object{{"type", "function"}, {"function", json::object{{"name", choice}}}};
}

}  // namespace

Result<std::string> build_request(const ChatRequest& req, bool stream, const RequestOptions& opts) {
  json::object body;
  body["model"] = req.model;
  json::array messages;
  messages.reserve(req.messages.size());
  for (const ChatMessage& m : req.messages) {
    json::object msg{{"role", m.role}, {"content", content_json(m)}};
    if (!m.name.empty()) msg["name"] = m.name;
    if (!m.tool_calls.empty()) {
      json::array calls;
      for (const ToolCall& c : m.tool_calls)
        calls.push_back(json::object{
            {"id", c.id},
            {"type", "function"},
            {"function", json::object{{"name", c.name}, {"arguments", c.arguments}}}});
      msg["tool_calls"] = std::move(calls);
    }
    if (m.role == "tool") msg["tool_call_id"] = m.tool_call_id;
    messages.push_back(std::move(msg));
  }
  body["messages"] = std::move(messages);
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (req.seed) body["seed"] = *req.seed;
  if (req.presence_penalty) body["presence_penalty"] = *req.presence_penalty;
  if (req.frequency_penalty) body["frequency_penalty"] = *req.frequency_penalty;
  if (!req.stop.empty()) {
    json::array stop;
    for (const std::string& s : req.stop) stop.push_back(json::string(s));
    body["stop"] = std::move(stop);
  }
  if (!req.user.empty()) body["user"] = req.user;
  if (req.logprobs) body["logprobs"] = true;
  if (req.top_logprobs) body["top_logprobs"] = *req.top_logprobs;
  if (const auto max = req.max_tokens ? req.max_tokens : opts.default_max_tokens) {
    body[opts.use_max_completion_tokens ? "max_completion_tokens" : "max_tokens"] = *max;
  }
  if (!req.tools.empty()) {
    json::array tools;
    for (std::size_t i = 0; i < req.tools.size(); ++i) {
      const ToolDefinition& t = req.tools[i];
      auto parameters =
          json_object_field(t.parameters, "tools[" + std::to_string(i) + "].function.parameters");
      if (!parameters) return parameters.error();
      json::object function{{"name", t.name}, {"parameters", std::move(*parameters)}};
      if (!t.description.empty()) function["description"] = t.description;
      if (t.strict) function["strict"] = true;
      tools.push_back(json::object{{"type", "function"}, {"function", std::move(function)}});
    }
    body["tools"] = std::move(tools);
  }
  if (!req.tool_choice.empty()) body["tool_choice"] = tool_choice_json(req.tool_choice);
  if (req.parallel_tool_calls) body["parallel_tool_calls"] = *req.parallel_tool_calls;
  switch (req.response_format.kind) {
    case ResponseFormat::Kind::text:
      break;
    case ResponseFormat::Kind::json_object:
      body["response_format"] = json::object{{"type", "json_object"}};
      break;
    case ResponseFormat::Kind::json_schema: {
      auto schema = json_object_field(req.response_format.schema, "response_format.json_schema.schema");
      if (!schema) return schema.error();
      json::object spec{{"name", req.response_format.schema_name}, {"schema", std::move(*schema)}};
      if (req.response_format.strict) spec["strict"] = true;
      body["response_format"] = json::object{{"type", "json_schema"}, {"json_schema", std::move(spec)}};
      break;
    }
  }
  if (stream) {
    body["stream"] = true;
    // Without this OpenAI streams no usage at all, and we could only estimate the bill.
    body["stream_options"] = json::object{{"include_usage", true}};
  }
  return json::serialize(body);
}

std::string build_embedding_request(const EmbeddingRequest& req) {
  json::array input;
  for (const std::string& text : req.inputs) input.push_back(json::string(text));
  json::object body{{"model", req.model}, {"input", std::move(input)}, {"encoding_format", "float"}};
  if (req.dimensions) body["dimensions"] = *req.dimensions;
  if (!req.user.empty()) body["user"] = req.user;
  return json::serialize(body);
}

Result<Embeddings> parse_embedding_response(std::string_view body, const EmbeddingRequest& req) {
  const auto parsed = wire::parse_json_object(body);
  if (!parsed) return wire::malformed(vendor, "embeddings body is not a JSON object");
  const json::object& o = parsed->get_object();
  if (const json::value* error = o.if_contains("error"); error && !error->is_null())
    return in_band_error(*error);
  const json::array* data = get_array(o, "data");
  if (!data) return wire::malformed(vendor, "embeddings response has no data");
  Embeddings out;
  out.vectors.resize(req.inputs.size());
  std::vector<bool> seen(req.inputs.size(), false);
  for (const json::value& item : *data) {
    const json::object* e = item.if_object();
    const json::array* vector = e ? get_array(*e, "embedding") : nullptr;
    const auto index = e ? get_int(*e, "index") : std::nullopt;
    if (!vector || !index || *index < 0 || static_cast<std::size_t>(*index) >= out.vectors.size() ||
        seen[static_cast<std::size_t>(*index)])
      return wire::malformed(vendor, "embeddings response has an invalid item");
    std::vector<float>& v = out.vectors[static_cast<std::size_t>(*index)];
    v.reserve(vector->size());
    for (const json::value& x : *vector) {
      if (!x.is_number()) return wire::malformed(vendor, "an embedding holds a non-number");
      v.push_back(x.to_number<float>());
    }
    seen[static_cast<std::size_t>(*index)] = true;
  }
  if (std::find(seen.begin(), seen.end(), false) != seen.end())
    return wire::malformed(vendor, "embeddings response lacks a vector for an input");
  out.model = std::string(get_string(o, "model").value_or(req.model));
  if (const json::object* usage = get_object(o, "usage")) {
    out.usage.input_tokens = get_int(*usage, "prompt_tokens").value_or(0);
  } else {
    for (const std::string& text : req.inputs) out.usage.input_tokens += estimate_tokens(text);
    out.usage.estimated = true;
  }
  return out;
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
  if (const json::array* calls = get_array(*message, "tool_calls")) {
    for (const json::value& call : *calls) {
      const json::object* co = call.if_object();
      const json::object* function = co ? get_object(*co, "function") : nullptr;
      if (!function) return wire::malformed(vendor, "a tool call has no function");
      c.tool_calls.push_back({std::string(get_string(*co, "id").value_or("")),
                              std::string(get_string(*function, "name").value_or("")),
                              std::string(get_string(*function, "arguments").value_or(""))});
    }
  }
  auto logprobs = read_logprobs(choice);
  if (!logprobs) return logprobs.error();
  c.logprobs = std::move(*logprobs);
  c.model = std::string(get_string(o, "model").value_or(req.model));
  c.finish_reason = normalise_finish_reason(get_string(choice, "finish_reason").value_or(""));
  // vLLM says which stop sequence ended the answer (a string; a token id when a stop token did).
  if (c.finish_reason == "stop") c.stop_sequence = std::string(get_string(choice, "stop_reason").value_or(""));
  if (const json::object* usage = get_object(o, "usage")) {
    c.usage = read_usage(*usage);
  } else {
    c.usage.input_tokens = estimate_request_tokens(req);
    c.usage.output_tokens = estimate_tokens(c.content) + estimate_tool_call_tokens(c.tool_calls);
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

Result<wire::Decoded> StreamDecoder::feed(const SseEvent& ev) {
  if (progress_.terminated) return wire::Decoded();  // nothing after [DONE] counts
  std::string_view data = ev.data;
  while (!data.empty() && (data.back() == ' ' || data.back() == '\n')) data.remove_suffix(1);
  if (data.empty()) return wire::Decoded();
  if (data == "[DONE]") {
    progress_.terminated = true;
    return wire::Decoded();
  }

  wire::ChunkMemory memory;  // declared first: it outlives the parse tree
  const auto parsed = wire::parse_json_object(data, memory.storage());
  if (!parsed) return wire::malformed(vendor, "stream chunk is not a JSON object");
  const json::object& chunk = parsed->get_object();
  if (const json::value* error = chunk.if_contains("error"); error && !error->is_null())
    return in_band_error(*error);

  if (progress_.model.empty())
    progress_.model = std::string(get_string(chunk, "model").value_or(""));

  wire::Decoded out;
  if (const json::array* choices = get_array(chunk, "choices");
      choices && !choices->empty() && choices->front().is_object()) {
    const json::object& choice = choices->front().get_object();
    if (const json::object* delta = get_object(choice, "delta")) {
      out.text = content_of(*delta);
      if (const json::array* calls = get_array(*delta, "tool_calls")) {
        for (const json::value& call : *calls) {
          const json::object* co = call.if_object();
          const auto index = co ? get_int(*co, "index") : std::nullopt;
          if (!index || *index < 0 || *index > 1024)
            return wire::malformed(vendor, "a streamed tool call has no valid index");
          ToolCallDelta d;
          d.index = static_cast<int>(*index);
          d.id = std::string(get_string(*co, "id").value_or(""));
          if (const json::object* function = get_object(*co, "function")) {
            d.name = std::string(get_string(*function, "name").value_or(""));
            d.arguments = std::string(get_string(*function, "arguments").value_or(""));
          }
          out.tool_calls.push_back(std::move(d));
        }
      }
    }
    auto logprobs = read_logprobs(choice);
    if (!logprobs) return logprobs.error();
    out.logprobs = std::move(*logprobs);
    if (auto reason = get_string(choice, "finish_reason")) {
      progress_.finish_reason = normalise_finish_reason(*reason);
      if (progress_.finish_reason == "stop")
        progress_.stop_sequence = std::string(get_string(choice, "stop_reason").value_or(""));
    }
  }
  // Only the include_usage chunk has a usage object; earlier chunks carry "usage": null.
  if (const json::object* usage = get_object(chunk, "usage")) {
    progress_.usage = read_usage(*usage);
    progress_.input_reported = progress_.output_reported = true;
  }
  return out;
}

}  // namespace aas::llm::openai_wire
