// Anthropic's Messages API: POST /v1/messages (streamed and not, tool_use), POST
// /v1/messages/count_tokens, and its error shape {"type":"error","error":{"type","message"}}.
#include "mock.hpp"

#include "http/sse.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace aas::mockllm {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {


std::string_view error_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string injected_message(int status) {
  switch (status) {
    case 401: return "invalid x-api-key (mock-llm fault)";
    case 429: return "Number of requests has exceeded your per-minute rate limit (mock-llm fault)";
    case 500: return "Internal server error (mock-llm fault)";
    case 529: return "Overloaded (mock-llm fault)";
    default: return fmt::format("mock-llm injected status {}", status);
  }
}

std::string event(std::string_view name, const json::object& data) {
  return http::sse_event(name, json::serialize(data));
}

// Text of a content field: a string, or the text blocks of an array. Tool results (and their
// text) are collected apart, since an answer to them reads differently.
// Image blocks add their tokens to `images`.
void collect_text(const json::value& content, std::string& text, std::string& tool_text,
                  bool& has_tool_result, std::size_t& images) {
  const auto append = [](std::string& to, std::string_view s) {
    if (!to.empty()) to += ' ';
    to += s;
  };
  if (const auto* s = content.if_string()) return append(text, *s);
  const auto* blocks = content.if_array();
  if (!blocks) return;
  for (const json::value& block : *blocks) {
    const auto* obj = block.if_object();
    if (!obj) continue;
    const auto* type = obj->if_contains("type");
    const auto* t = obj->if_contains("text");
    if (type && *type == "image") {
      // Images count as the service estimates them (an image of unknown size: 765).
      images += image_tokens("");
    } else if (type && *type == "tool_result") {
      has_tool_result = true;
      if (const auto* c = obj->if_contains("content")) {
        std::string ignored_tool_text;
        bool nested = false;
        collect_text(*c, tool_text, ignored_tool_text, nested, images);
      }
    } else if (t && t->is_string()) {
      append(text, t->get_string());
    }
  }
}

struct BadRequest {
  std::string message;
};

struct MessageCall {
  std::string model;
  bool stream = false;
  std::size_t max_tokens = 0;
  std::vector<std::string> stop_sequences;
  std::size_t prompt_tokens = 0;
  std::string answer;
  std::vector<MockToolCall> tool_uses;  // the tools the answer uses
};

std::size_t tool_uses_tokens(const std::vector<MockToolCall>& uses) {
  std::size_t n = 0;
  for (const MockToolCall& u : uses) n += tool_call_tokens(u);
  return n;
}

// `need_max_tokens` is false for count_tokens, which takes no max_tokens.
std::optional<BadRequest> parse_message(const json::object& body, MessageCall& call,
                                        bool need_max_tokens) {
  const auto* model = body.if_contains("model");
  if (!model || !model->is_string() || model->get_string().empty()) {
    return BadRequest{"model: Field required"};
  }
  call.model = std::string(model->get_string());
  if (need_max_tokens) {
    const auto* max = body.if_contains("max_tokens");
    if (!max) return BadRequest{"max_tokens: Field required"};
    if (!max->is_int64() || max->get_int64() < 1) {
      return BadRequest{"max_tokens: Input should be a valid integer greater than 0"};
    }
    call.max_tokens = static_cast<std::size_t>(max->get_int64());
  }
  if (const auto* stop = body.if_contains("stop_sequences"); stop && !stop->is_null()) {
    if (!stop->is_array()) return BadRequest{"stop_sequences: Input should be a valid list"};
    for (const json::value& s : stop->get_array()) {
      if (!s.is_string()) return BadRequest{"stop_sequences: Input should be a valid string"};
      call.stop_sequences.emplace_back(s.get_string());
    }
  }
  const auto* messages = body.if_contains("messages");
  if (!messages || !messages->is_array() || messages->get_array().empty()) {
    return BadRequest{"messages: at least one message is required"};
  }

  std::size_t images = 0;
  if (const auto* system = body.if_contains("system")) {
    std::string text, tool_text;
    bool has_tool_result = false;
    collect_text(*system, text, tool_text, has_tool_result, images);
    call.prompt_tokens += count_tokens(text);
  }
  std::string last_role, last_text, last_tool_text;
  std::string last_question;  // the last user text that was not a tool result (the runaway rule)
  bool last_has_tool_result = false;
  for (const json::value& m : messages->get_array()) {
    const auto* obj = m.if_object();
    const auto* role = obj ? obj->if_contains("role") : nullptr;
    const auto* content = obj ? obj->if_contains("content") : nullptr;
    if (!role || !(*role == "user" || *role == "assistant") || !content) {
      return BadRequest{"messages: each message needs a role (user or assistant) and content"};
    }
    last_role = std::string(role->get_string());
    last_text.clear();
    last_tool_text.clear();
    last_has_tool_result = false;
    collect_text(*content, last_text, last_tool_text, last_has_tool_result, images);
    call.prompt_tokens += count_tokens(last_text) + count_tokens(last_tool_text);
    if (last_role == "user" && !last_has_tool_result) last_question = last_text;
  }
  call.prompt_tokens += images;
  if (last_role != "user") {
    return BadRequest{"messages: the last message must have the user role (no prefill in mock-llm)"};
  }

  if (const auto* stream = body.if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return BadRequest{"stream: Input should be a valid boolean"};
    call.stream = stream->get_bool();
  }
  // Tool use follows the same rule as OpenAI's tool calls: "call <name> [{json}]" in the last
  // user turn. A forced tool_choice ({type: tool, name}, or {type: any}: the first tool) uses
  // that tool anyway, with an input sampled from its input_schema — how JSON mode through a
  // forced tool gets a valid answer.
  std::string forced;
  bool any = false;
  bool none = false;  // {type: none}: the model must answer in words
  if (const auto* choice = body.if_contains("tool_choice"); choice && choice->is_object()) {
    const auto* type = choice->get_object().if_contains("type");
    const auto* name = choice->get_object().if_contains("name");
    if (type && *type == "tool" && name && name->is_string()) forced = std::string(name->get_string());
    any = type && *type == "any";
    none = type && *type == "none";
  }
  if (const auto* tools = body.if_contains("tools"); tools && tools->is_array()) {
    MockToolCall first_tool;
    for (const json::value& t : tools->get_array()) {
      const auto* name = t.is_object() ? t.get_object().if_contains("name") : nullptr;
      if (!name || !name->is_string()) return BadRequest{"tools: each tool needs a name"};
      const auto* schema = t.get_object().if_contains("input_schema");
      if (!schema || !schema->is_object()) return BadRequest{"tools: each tool needs an input_schema object"};
      if (none) continue;
      if (last_has_tool_result) {
        if (auto again = requested_arguments(last_question, name->get_string(), kKeepCalling))
          call.tool_uses.push_back({std::string(name->get_string()), std::move(*again)});
        continue;
      }
      auto args = requested_arguments(last_text, name->get_string());
      if (!args) args = requested_arguments(last_text, name->get_string(), kKeepCalling);
      if (args) {
        call.tool_uses.push_back({std::string(name->get_string()), std::move(*args)});
      } else if (name->get_string() == forced || (any && first_tool.name.empty())) {
        MockToolCall sampled{std::string(name->get_string()), sample_for_schema(json::serialize(*schema))};
        if (name->get_string() == forced) call.tool_uses.push_back(std::move(sampled));
        else first_tool = std::move(sampled);
      }
    }
    if (any && call.tool_uses.empty() && !first_tool.name.empty()) call.tool_uses.push_back(first_tool);
  }
  call.answer = last_has_tool_result ? "Mock answer with tool result: " + last_tool_text
                                     : "Mock answer to: " + last_text;
  return std::nullopt;
}

// Anthropic counts cache reads and writes apart from input_tokens; all three add up to the prompt.
struct InputUsage {
  std::size_t input = 0, cache_read = 0, cache_write = 0;
};

InputUsage input_usage(std::size_t prompt, const Behaviour& b) {
  InputUsage u;
  u.cache_read = std::min(b.cached_tokens, prompt);
  u.cache_write = std::min(b.cache_write_tokens, prompt - u.cache_read);
  u.input = prompt - u.cache_read - u.cache_write;
  return u;
}

json::object usage_json(const InputUsage& in, std::size_t output) {
  return json::object{{"input_tokens", in.input},
                      {"cache_creation_input_tokens", in.cache_write},
                      {"cache_read_input_tokens", in.cache_read},
                      {"output_tokens", output}};
}

// `with_input` false: the empty input a streamed tool_use block starts with.
json::object tool_use_json(const std::string& id, const MockToolCall& use, bool with_input) {
  return json::object{{"type", "tool_use"},
                      {"id", id},
                      {"name", use.name},
                      {"input", with_input ? json::parse(use.arguments) : json::object{}}};
}

// The real event sequence: message_start, content_block_start, ping, content_block_delta xN,
// content_block_stop, (tool_use blocks), message_delta, message_stop.
class MessageEvents final : public StreamFraming {
 public:
  MessageEvents(std::string id, const MessageCall& call, InputUsage usage,
                std::vector<std::string> tool_ids, std::string stop_reason, json::value stop_sequence)
      : id_(std::move(id)), model_(call.model), usage_(usage), tool_uses_(call.tool_uses),
        tool_ids_(std::move(tool_ids)), stop_reason_(std::move(stop_reason)), stop_sequence_(std::move(stop_sequence)) {}

  std::string start() override {
    json::object message{{"id", id_},
                         {"type", "message"},
                         {"role", "assistant"},
                         {"model", model_},
                         {"content", json::array{}},
                         {"stop_reason", nullptr},
                         {"stop_sequence", nullptr},
                         {"usage", usage_json(usage_, 1)}};
    std::string out = event("message_start", {{"type", "message_start"}, {"message", std::move(message)}});
    if (has_text()) {
      out += event("content_block_start",
                   {{"type", "content_block_start"},
                    {"index", 0},
                    {"content_block", json::object{{"type", "text"}, {"text", ""}}}});
    }
    out += event("ping", {{"type", "ping"}});
    return out;
  }

  std::string delta(std::string_view text) override {
    return event("content_block_delta",
                 {{"type", "content_block_delta"},
                  {"index", 0},
                  {"delta", json::object{{"type", "text_delta"}, {"text", text}}}});
  }

  std::string malformed() override {
    return http::sse_event("content_block_delta",
                           R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)");
  }

  std::string finish(std::size_t text_tokens) override {
    std::string out;
    std::size_t index = 0;
    if (has_text()) out += event("content_block_stop", {{"type", "content_block_stop"}, {"index", index++}});
    for (std::size_t i = 0; i < tool_uses_.size(); ++i, ++index) {
      json::object block = tool_use_json(tool_ids_[i], tool_uses_[i], false);
      out += event("content_block_start",
                   {{"type", "content_block_start"}, {"index", index}, {"content_block", std::move(block)}});
      // The input in two fragments, as the real API splits it, so that clients must join.
      const std::string& input = tool_uses_[i].arguments;
      const std::size_t half = input.size() / 2;
      for (const std::string_view piece :
           {std::string_view(input).substr(0, half), std::string_view(input).substr(half)}) {
        out += event("content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", index},
                      {"delta", json::object{{"type", "input_json_delta"}, {"partial_json", piece}}}});
      }
      out += event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
    }
    const std::size_t output = text_tokens + tool_uses_tokens(tool_uses_);
    out += event("message_delta",
                 {{"type", "message_delta"},
                  {"delta", json::object{{"stop_reason", stop_reason_}, {"stop_sequence", stop_sequence_}}},
                  {"usage", json::object{{"output_tokens", output}}}});
    out += event("message_stop", {{"type", "message_stop"}});
    return out;
  }

 private:
  bool has_text() const { return tool_uses_.empty(); }

  std::string id_;
  std::string model_;
  InputUsage usage_;
  std::vector<MockToolCall> tool_uses_;
  std::vector<std::string> tool_ids_;
  std::string stop_reason_;
  json::value stop_sequence_;  // the one that ended the answer, or null
};

// The key, the x-mock-* headers, anthropic-version and the JSON body, in the API's order.
std::optional<http::Response> admit(Mock& mock, const http::Request& req, Behaviour& b,
                                    MessageCall& call, bool need_max_tokens) {
  mock.stats.count_request(req.path, req.header("x-mock-key").value_or(""));
  if (!anthropic_key_ok(mock, req)) {
    return anthropic_error(mock, 401, req.header("x-api-key") ? "invalid x-api-key"
                                                              : "x-api-key header is required");
  }
  if (auto err = read_behaviour(req, mock.settings, b)) return anthropic_error(mock, 400, *err);
  if (!req.header("anthropic-version")) {
    return anthropic_error(mock, 400, "anthropic-version: header is required");
  }
  boost::system::error_code ec;
  const json::value body = json::parse(req.body, ec);
  if (ec || !body.is_object()) return anthropic_error(mock, 400, "There was an error parsing the body of your request");
  if (auto bad = parse_message(body.get_object(), call, need_max_tokens)) {
    return anthropic_error(mock, 400, bad->message);
  }
  if (!mock.model_known(call.model)) {
    return anthropic_error(mock, 404, fmt::format("model: {}", call.model));
  }
  return std::nullopt;
}

// An error asked for by x-mock-status / x-mock-fail-first, after the delay, or nullopt.
asio::awaitable<std::optional<http::Response>> injected_error(Mock& mock, const Behaviour& b) {
  const int status = mock.injected_status(b);
  if (status == 0) co_return std::nullopt;
  co_await wait_like_generation(b, 0);
  co_return with_retry_after(anthropic_error(mock, status, injected_message(status)), b);
}

asio::awaitable<Result<http::Response>> messages(Mock& mock, http::Context& ctx) {
  Behaviour b;
  MessageCall call;
  if (auto refused = admit(mock, ctx.request, b, call, true)) co_return std::move(*refused);
  if (auto injected = co_await injected_error(mock, b)) co_return std::move(*injected);
  if (b.drip) call.tool_uses.clear();  // a drip is endless text

  std::vector<std::string> tokens;
  if (call.tool_uses.empty()) tokens = answer_tokens(call.answer, b.answer_tokens);
  std::string stop_reason = call.tool_uses.empty() ? "end_turn" : "tool_use";
  if (tokens.size() > call.max_tokens) {
    tokens.resize(call.max_tokens);
    stop_reason = "max_tokens";
  }
  json::value stop_sequence = nullptr;
  if (auto matched = cut_at_stop(tokens, call.stop_sequences)) {
    stop_reason = "stop_sequence";
    stop_sequence = json::string(*matched);
  }
  std::vector<std::string> tool_ids;
  for (std::size_t i = 0; i < call.tool_uses.size(); ++i) tool_ids.push_back(mock.new_id("toolu_mock_"));
  const InputUsage in = input_usage(call.prompt_tokens, b);
  std::string id = mock.new_id("msg_mock_");
  const std::string request_id = mock.new_id("req_mock_");

  if (call.stream) {
    auto framing = std::make_shared<MessageEvents>(std::move(id), call, in, std::move(tool_ids),
                                                   std::move(stop_reason), stop_sequence);
    http::Response res = http::sse_response(paced_stream(mock, std::move(b), std::move(tokens), std::move(framing)));
    res.headers.push_back({"request-id", request_id});
    co_return res;
  }

  http::Response res;
  res.headers.push_back({"request-id", request_id});
  if (b.drip) {
    res.stream = dripping_body(mock, b);
    co_return res;
  }
  json::array content;
  if (call.tool_uses.empty()) content.push_back(json::object{{"type", "text"}, {"text", join(tokens)}});
  for (std::size_t i = 0; i < call.tool_uses.size(); ++i) {
    content.push_back(tool_use_json(tool_ids[i], call.tool_uses[i], true));
  }
  const std::size_t output = tokens.size() + tool_uses_tokens(call.tool_uses);
  const json::object message{{"id", id},
                             {"type", "message"},
                             {"role", "assistant"},
                             {"model", call.model},
                             {"content", std::move(content)},
                             {"stop_reason", stop_reason},
                             {"stop_sequence", stop_sequence},
                             {"usage", usage_json(in, output)}};
  co_await wait_like_generation(b, output);
  res.body = json::serialize(message);
  if (b.malformed_after) {
    res.body.resize(res.body.size() / 2);  // a complete response whose JSON is cut short
  } else if (b.drop_after) {
    res.stream = truncated_body(mock, b, std::move(res.body));
    res.body.clear();
  }
  co_return res;
}

asio::awaitable<Result<http::Response>> count_tokens_route(Mock& mock, http::Context& ctx) {
  Behaviour b;
  MessageCall call;
  if (auto refused = admit(mock, ctx.request, b, call, false)) co_return std::move(*refused);
  if (auto injected = co_await injected_error(mock, b)) co_return std::move(*injected);
  http::Response res;
  res.body = json::serialize(json::object{{"input_tokens", call.prompt_tokens}});
  co_return res;
}

}  // namespace

http::Response anthropic_error(Mock& mock, int status, std::string message) {
  const std::string request_id = mock.new_id("req_mock_");
  http::Response res;
  res.status = status;
  res.body = json::serialize(json::object{
      {"type", "error"},
      {"error", json::object{{"type", error_type(status)}, {"message", std::move(message)}}},
      {"request_id", request_id}});
  res.headers.push_back({"request-id", request_id});
  return res;
}

bool anthropic_key_ok(const Mock& mock, const http::Request& req) {
  if (mock.settings.require_key.empty()) return true;
  // The SDKs send x-api-key (apiKey) or a Bearer token (authToken).
  const auto key = req.header("x-api-key");
  const auto auth = req.header("authorization");
  return (key && *key == mock.settings.require_key) ||
         (auth && *auth == "Bearer " + mock.settings.require_key);
}

void add_anthropic_routes(http::Router& router, Mock& mock) {
  router.add({"POST", "/v1/messages", http::Access::open,
              [&mock](http::Context& ctx) { return messages(mock, ctx); }});
  router.add({"POST", "/v1/messages/count_tokens", http::Access::open,
              [&mock](http::Context& ctx) { return count_tokens_route(mock, ctx); }});
}

}  // namespace aas::mockllm
