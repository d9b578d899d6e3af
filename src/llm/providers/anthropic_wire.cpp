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

namespace {

Error cannot(std::string_view parameter, std::string_view why = "is not supported") {
  return make_error(errc::invalid_request, "'" + std::string(parameter) + "' " + std::string(why) +
                                               " by this model's provider (Anthropic)");
}

std::string at(std::string_view prefix, std::size_t i, std::string_view rest = {}) {
  return std::string(prefix) + "[" + std::to_string(i) + "]" + std::string(rest);
}

// An image part as an Anthropic image block: a data URL becomes a base64 source, an https URL
// a url source. Anything else is refused, naming the part.
Result<json::object> image_block(const ContentPart& p, const std::string& field) {
  const std::string_view url = p.image_url;
  if (url.starts_with("https://"))
    return json::object{{"type", "image"}, {"source", json::object{{"type", "url"}, {"url", url}}}};
  constexpr std::string_view marker = ";base64,";
  const std::size_t comma = url.find(marker);
  if (!url.starts_with("data:") || comma == std::string_view::npos)
    return make_error(errc::invalid_request,
                      "'" + field + "' must be an https URL or a base64 data URL for this model");
  return json::object{{"type", "image"},
                      {"source", json::object{{"type", "base64"},
                                              {"media_type", url.substr(5, comma - 5)},
                                              {"data", url.substr(comma + marker.size())}}}};
}

// The content blocks of one of our messages (not a system message).
Result<json::array> blocks_of(const ChatMessage& m, std::size_t index) {
  json::array blocks;
  if (m.role == "tool") {
    blocks.push_back(json::object{{"type", "tool_result"},
                                  {"tool_use_id", m.tool_call_id},
                                  {"content", m.content}});
    return blocks;
  }
  if (m.parts.empty()) {
    if (!m.content.empty()) blocks.push_back(json::object{{"type", "text"}, {"text", m.content}});
  }
  for (std::size_t i = 0; i < m.parts.size(); ++i) {
    const ContentPart& p = m.parts[i];
    if (p.kind == ContentPart::Kind::text) {
      blocks.push_back(json::object{{"type", "text"}, {"text", p.text}});
      continue;
    }
    const std::string field = at("messages", index, at(".content", i, ".image_url"));
    // Anthropic picks an image's resolution itself: a low/high hint cannot be honoured.
    if (p.detail == "low" || p.detail == "high") return cannot(field + ".detail");
    auto image = image_block(p, field);
    if (!image) return image.error();
    blocks.push_back(std::move(*image));
  }
  for (std::size_t i = 0; i < m.tool_calls.size(); ++i) {
    const ToolCall& c = m.tool_calls[i];
    // Anthropic wants the arguments as an object, OpenAI's clients send them as JSON text.
    auto input = wire::parse_json_object(c.arguments.empty() ? std::string_view("{}") : c.arguments);
    if (!input)
      return make_error(errc::invalid_request,
                        "'" + at("messages", index, at(".tool_calls", i, ".function.arguments")) +
                            "' must be a JSON object");
    blocks.push_back(json::object{
        {"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", std::move(*input)}});
  }
  return blocks;
}

// A plain text message keeps the compact string form (and merges as text).
bool is_plain(const ChatMessage& m) {
  return m.role != "tool" && m.parts.empty() && m.tool_calls.empty();
}

}  // namespace

std::string_view forced_tool_name(const ChatRequest& req) {
  if (req.response_format.kind == ResponseFormat::Kind::text) return {};
  if (req.response_format.kind == ResponseFormat::Kind::json_schema &&
      !req.response_format.schema_name.empty())
    return req.response_format.schema_name;
  return "json_response";
}

Result<std::string> build_request(const ChatRequest& req, bool stream, const RequestOptions& opts) {
  // What the Messages API has no equivalent for is refused, never dropped.
  if (req.seed) return cannot("seed");
  if (req.presence_penalty) return cannot("presence_penalty");
  if (req.frequency_penalty) return cannot("frequency_penalty");
  if (req.logprobs) return cannot("logprobs");
  if (req.top_logprobs) return cannot("top_logprobs");
  for (std::size_t i = 0; i < req.tools.size(); ++i)
    if (req.tools[i].strict) return cannot(at("tools", i, ".function.strict"));
  if (req.response_format.kind != ResponseFormat::Kind::text &&
      (!req.tools.empty() || !req.tool_choice.empty()))
    return cannot("response_format", "together with tools is not supported");
  if (req.response_format.strict) return cannot("response_format.json_schema.strict");

  json::object body;
  body["model"] = req.model;
  body["max_tokens"] =
      req.max_tokens.value_or(opts.default_max_tokens.value_or(fallback_max_tokens));

  std::string system;
  json::array messages;
  std::string last_role;
  for (std::size_t index = 0; index < req.messages.size(); ++index) {
    const ChatMessage& m = req.messages[index];
    if (!m.name.empty()) return cannot(at("messages", index, ".name"));
    if (m.role == "system") {
      // There is no system role in Messages: all system text goes to the top-level field.
      for (const ContentPart& p : m.parts)
        if (p.kind == ContentPart::Kind::image)
          return cannot(at("messages", index, ".content"), "with images in a system message is not supported");
      if (!system.empty()) system += "\n\n";
      system += m.content;
      continue;
    }
    // Tool results go back as a user turn (Anthropic's tool_result blocks).
    const std::string role = m.role == "tool" ? "user" : m.role;
    if (role == last_role && !messages.empty()) {
      json::value& content = messages.back().as_object()["content"];
      if (is_plain(m) && content.is_string()) {
        content.as_string().append("\n\n");
        content.as_string().append(m.content);
        continue;
      }
      if (content.is_string())
        content = json::array{json::object{{"type", "text"}, {"text", content.as_string()}}};
      auto blocks = blocks_of(m, index);
      if (!blocks) return blocks.error();
      for (json::value& b : *blocks) content.as_array().push_back(std::move(b));
      continue;
    }
    if (is_plain(m)) {
      messages.push_back(json::object{{"role", role}, {"content", m.content}});
    } else {
      auto blocks = blocks_of(m, index);
      if (!blocks) return blocks.error();
      messages.push_back(json::object{{"role", role}, {"content", std::move(*blocks)}});
    }
    last_role = role;
  }
  body["messages"] = std::move(messages);
  if (!system.empty()) body["system"] = system;
  if (req.temperature) body["temperature"] = *req.temperature;
  if (req.top_p) body["top_p"] = *req.top_p;
  if (!req.stop.empty()) {
    json::array stop;
    for (const std::string& s : req.stop) stop.push_back(json::string(s));
    body["stop_sequences"] = std::move(stop);
  }
  if (!req.user.empty()) body["metadata"] = json::object{{"user_id", req.user}};

  json::array tools;
  for (std::size_t i = 0; i < req.tools.size(); ++i) {
    const ToolDefinition& t = req.tools[i];
    auto schema = wire::parse_json_object(t.parameters);
    if (!schema)
      return make_error(errc::invalid_request,
                        "'" + at("tools", i, ".function.parameters") + "' must be a JSON object");
    json::object tool{{"name", t.name}, {"input_schema", std::move(*schema)}};
    if (!t.description.empty()) tool["description"] = t.description;
    tools.push_back(std::move(tool));
  }
  json::object tool_choice;
  if (req.tool_choice == "auto") tool_choice = {{"type", "auto"}};
  else if (req.tool_choice == "required") tool_choice = {{"type", "any"}};
  else if (req.tool_choice == "none") tool_choice = {{"type", "none"}};
  else if (!req.tool_choice.empty()) tool_choice = {{"type", "tool"}, {"name", req.tool_choice}};

  // JSON mode: one forced tool whose input schema is the wanted shape; its input is the answer.
  if (req.response_format.kind != ResponseFormat::Kind::text) {
    json::object schema{{"type", "object"}};
    if (req.response_format.kind == ResponseFormat::Kind::json_schema) {
      auto parsed = wire::parse_json_object(req.response_format.schema);
      if (!parsed)
        return make_error(errc::invalid_request,
                          "'response_format.json_schema.schema' must be a JSON object");
      schema = std::move(parsed->as_object());
    }
    const std::string name(forced_tool_name(req));
    tools.push_back(json::object{{"name", name},
                                 {"description", "Give the answer as this tool's input."},
                                 {"input_schema", std::move(schema)}});
    tool_choice = {{"type", "tool"}, {"name", name}};
  }
  if (req.parallel_tool_calls == false && !req.tools.empty()) {
    if (tool_choice.empty()) tool_choice = {{"type", "auto"}};
    if (tool_choice["type"] != "none") tool_choice["disable_parallel_tool_use"] = true;
  }
  if (!tools.empty()) body["tools"] = std::move(tools);
  if (!tool_choice.empty()) body["tool_choice"] = std::move(tool_choice);
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
  const std::string_view forced = forced_tool_name(req);
  for (const json::value& block : *content) {
    const json::object* b = block.if_object();
    if (!b) continue;
    const auto type = get_string(*b, "type");
    if (type == "text") c.content += get_string(*b, "text").value_or("");
    if (type != "tool_use") continue;
    const json::value* input = b->if_contains("input");
    const std::string arguments = input ? json::serialize(*input) : std::string("{}");
    const std::string_view name = get_string(*b, "name").value_or("");
    if (!forced.empty() && name == forced) {
      c.content += arguments;  // JSON mode: the forced tool's input is the answer
      continue;
    }
    c.tool_calls.push_back({std::string(get_string(*b, "id").value_or("")), std::string(name), arguments});
  }
  c.model = std::string(get_string(o, "model").value_or(req.model));
  c.finish_reason = normalise_finish_reason(get_string(o, "stop_reason").value_or(""));
  if (!forced.empty() && c.finish_reason == "tool_calls") c.finish_reason = "stop";
  c.stop_sequence = std::string(get_string(o, "stop_sequence").value_or(""));
  if (const json::object* usage = get_object(o, "usage")) {
    const std::int64_t read = get_int(*usage, "cache_read_input_tokens").value_or(0);
    const std::int64_t write = get_int(*usage, "cache_creation_input_tokens").value_or(0);
    c.usage.input_tokens = get_int(*usage, "input_tokens").value_or(0) + read + write;
    c.usage.cached_input_tokens = read;
    c.usage.cache_write_tokens = write;
    c.usage.output_tokens = get_int(*usage, "output_tokens").value_or(0);
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

StreamDecoder::StreamDecoder(const ChatRequest& req) : forced_tool_(forced_tool_name(req)) {}

Result<wire::Decoded> StreamDecoder::feed(const SseEvent& ev) {
  wire::Decoded out;
  if (progress_.terminated) return out;
  const auto parsed = wire::parse_json_object(ev.data);
  if (!parsed) {
    if (ev.event == "ping") return out;  // whatever a heartbeat carries
    return wire::malformed(vendor,
                           "stream event '" + ev.event.substr(0, 40) + "' is not a JSON object");
  }
  const json::object& data = parsed->get_object();
  // The data names its type as well as the event line does; the data is what the SDKs trust.
  const std::string_view type = get_string(data, "type").value_or(ev.event);
  const std::int64_t block = get_int(data, "index").value_or(-1);

  if (type == "content_block_delta") {
    const json::object* delta = get_object(data, "delta");
    const auto delta_type = delta ? get_string(*delta, "type") : std::nullopt;
    // Text and tool input reach the answer; thinking and signature deltas do not.
    if (delta_type == "text_delta") {
      out.text = std::string(get_string(*delta, "text").value_or(""));
    } else if (delta_type == "input_json_delta") {
      std::string piece(get_string(*delta, "partial_json").value_or(""));
      if (block == forced_block_) {
        out.text = std::move(piece);
      } else if (auto it = calls_.find(block); it != calls_.end() && !piece.empty()) {
        it->second.has_arguments = true;
        out.tool_calls.push_back({it->second.index, {}, {}, std::move(piece)});
      }
    }
  } else if (type == "content_block_start") {
    const json::object* b = get_object(data, "content_block");
    const auto block_type = b ? get_string(*b, "type") : std::nullopt;
    if (block_type == "text") {
      out.text = std::string(get_string(*b, "text").value_or(""));
    } else if (block_type == "tool_use") {
      const std::string_view name = get_string(*b, "name").value_or("");
      if (!forced_tool_.empty() && name == forced_tool_) {
        forced_block_ = block;
      } else {
        const int index = static_cast<int>(calls_.size());
        calls_[block] = {index, false};
        out.tool_calls.push_back({index, std::string(get_string(*b, "id").value_or("")), std::string(name), {}});
      }
    }
  } else if (type == "content_block_stop") {
    // A call without arguments streams none; OpenAI's clients expect at least "{}".
    if (auto it = calls_.find(block); it != calls_.end() && !it->second.has_arguments) {
      it->second.has_arguments = true;
      out.tool_calls.push_back({it->second.index, {}, {}, "{}"});
    }
  } else if (type == "message_start") {
    if (const json::object* message = get_object(data, "message")) {
      progress_.model = std::string(get_string(*message, "model").value_or(""));
      if (const json::object* usage = get_object(*message, "usage")) read_usage(*usage);
    }
  } else if (type == "message_delta") {
    if (const json::object* delta = get_object(data, "delta")) {
      if (auto reason = get_string(*delta, "stop_reason")) {
        progress_.finish_reason = normalise_finish_reason(*reason);
        // JSON mode: the forced tool's use is the answer, not a call for the client.
        if (!forced_tool_.empty() && progress_.finish_reason == "tool_calls") progress_.finish_reason = "stop";
      }
      if (auto matched = get_string(*delta, "stop_sequence")) progress_.stop_sequence = std::string(*matched);
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
  // ping and event types added later carry nothing we use.
  return out;
}

}  // namespace aas::llm::anthropic_wire
