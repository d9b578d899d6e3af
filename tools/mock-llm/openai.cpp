// OpenAI's wire format: POST /v1/chat/completions (streamed and not, include_usage, tool_calls),
// POST /v1/embeddings, and its error shape {"error":{"message","type","param","code"}}.
#include "mock.hpp"

#include "http/sse.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>

namespace aas::mockllm {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::size_t kMaxDimensions = 16384;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

http::Response json_response(int status, const json::value& body) {
  http::Response res;
  res.status = status;
  res.body = json::serialize(body);
  return res;
}

std::string_view error_type(int status) {
  if (status == 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

// What an injected status says, in the words the real API uses for it.
http::Response injected_error(int status) {
  switch (status) {
    case 401: return openai_error(401, "Incorrect API key provided (mock-llm fault).", "invalid_api_key");
    case 429:
      return openai_error(429, "Rate limit reached for requests (mock-llm fault).", "rate_limit_exceeded");
    case 500:
      return openai_error(500, "The server had an error while processing your request (mock-llm fault).");
    case 503:
      return openai_error(503, "The engine is currently overloaded, please try again later (mock-llm fault).");
    default: return openai_error(status, fmt::format("mock-llm injected status {}.", status));
  }
}

// The tokens of a message's image parts (see image_tokens).
std::size_t image_tokens_of(const json::value& content) {
  std::size_t n = 0;
  if (const auto* parts = content.if_array()) {
    for (const json::value& part : *parts) {
      const auto* obj = part.if_object();
      const auto* image = obj && obj->contains("type") && obj->at("type") == "image_url"
                              ? obj->if_contains("image_url")
                              : nullptr;
      if (!image || !image->is_object()) continue;
      const auto* detail = image->get_object().if_contains("detail");
      n += image_tokens(detail && detail->is_string() ? std::string_view(detail->get_string()) : "");
    }
  }
  return n;
}

// Text of a message's content: a string, or the text parts of an array; anything else is empty.
std::string text_of(const json::value& content) {
  if (const auto* s = content.if_string()) return std::string(*s);
  std::string out;
  if (const auto* parts = content.if_array()) {
    for (const json::value& part : *parts) {
      const auto* obj = part.if_object();
      if (!obj) continue;
      const auto* text = obj->if_contains("text");
      if (text && text->is_string()) {
        if (!out.empty()) out += ' ';
        out += text->get_string();
      }
    }
  }
  return out;
}

struct BadRequest {
  std::string message;
  std::string param;
};

struct ChatCall {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::optional<std::size_t> max_tokens;
  std::size_t prompt_tokens = 0;
  std::string answer;                    // before length rules
  std::vector<MockToolCall> tool_calls;  // the tools the answer calls
  std::vector<std::string> stop;         // stop sequences
  bool logprobs = false;                 // answer with the tokens' log probabilities
  std::size_t top_logprobs = 0;          // and this many alternatives each
};

// The deterministic log probabilities of an answer's text: each token (a word with its leading
// space) has logprob -(its length in bytes) / 100, and its alternatives are the token itself then
// "alt1", "alt2", ... each 1 lower than the one before. {"content": [...], "refusal": null}.
json::object logprobs_json(std::string_view text, std::size_t top) {
  json::array content;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start + 1);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view token = text.substr(start, end - start);
    start = end;
    const double logprob = -static_cast<double>(token.size()) / 100.0;
    const auto bytes = [](std::string_view t) {
      json::array a;
      for (unsigned char c : t) a.push_back(c);
      return a;
    };
    json::array alternatives;
    for (std::size_t k = 0; k < top; ++k) {
      const std::string alt = k == 0 ? std::string(token) : "alt" + std::to_string(k);
      alternatives.push_back(json::object{{"token", alt}, {"logprob", logprob - static_cast<double>(k)}, {"bytes", bytes(alt)}});
    }
    content.push_back(json::object{
        {"token", token}, {"logprob", logprob}, {"bytes", bytes(token)}, {"top_logprobs", std::move(alternatives)}});
  }
  return json::object{{"content", std::move(content)}, {"refusal", nullptr}};
}

std::size_t tool_calls_tokens(const std::vector<MockToolCall>& calls) {
  std::size_t n = 0;
  for (const MockToolCall& c : calls) n += tool_call_tokens(c);
  return n;
}

std::optional<BadRequest> parse_chat(const json::object& body, ChatCall& call) {
  const auto* model = body.if_contains("model");
  if (!model || !model->is_string() || model->get_string().empty()) {
    return BadRequest{"you must provide a model parameter", "model"};
  }
  call.model = std::string(model->get_string());

  const auto* messages = body.if_contains("messages");
  if (!messages || !messages->is_array() || messages->get_array().empty()) {
    return BadRequest{"'messages' must be a non-empty array", "messages"};
  }
  std::string last_role;
  std::string last_text;
  std::string last_user_text;
  std::string tool_results;  // the texts of the trailing tool messages
  for (const json::value& m : messages->get_array()) {
    const auto* obj = m.if_object();
    const auto* role = obj ? obj->if_contains("role") : nullptr;
    if (!role || !role->is_string()) {
      return BadRequest{"each message must be an object with a 'role'", "messages"};
    }
    const auto* content = obj->if_contains("content");
    const std::string text = content ? text_of(*content) : std::string();
    call.prompt_tokens += count_tokens(text) + (content ? image_tokens_of(*content) : 0);
    const bool tool = *role == "tool";
    if (tool) tool_results = last_role == "tool" ? tool_results + " " + text : text;
    last_role = std::string(role->get_string());
    last_text = text;
    if (last_role == "user") last_user_text = text;
  }

  if (const auto* stream = body.if_contains("stream"); stream && !stream->is_null()) {
    if (!stream->is_bool()) return BadRequest{"'stream' must be a boolean", "stream"};
    call.stream = stream->get_bool();
  }
  if (const auto* opts = body.if_contains("stream_options"); opts && opts->is_object()) {
    const auto* usage = opts->get_object().if_contains("include_usage");
    call.include_usage = usage && usage->is_bool() && usage->get_bool();
  }
  for (const char* name : {"max_completion_tokens", "max_tokens"}) {
    const auto* v = body.if_contains(name);
    if (!v || v->is_null()) continue;
    if (!v->is_int64() || v->get_int64() < 1) {
      return BadRequest{fmt::format("'{}' must be a positive integer", name), name};
    }
    call.max_tokens = static_cast<std::size_t>(v->get_int64());
    break;
  }
  if (const auto* stop = body.if_contains("stop"); stop && !stop->is_null()) {
    if (stop->is_string()) {
      call.stop.emplace_back(stop->get_string());
    } else if (stop->is_array() && stop->get_array().size() <= 4) {
      for (const json::value& s : stop->get_array()) {
        if (!s.is_string()) return BadRequest{"'stop' must be a string or an array of strings", "stop"};
        call.stop.emplace_back(s.get_string());
      }
    } else {
      return BadRequest{"'stop' must be a string or an array of up to 4 strings", "stop"};
    }
  }
  if (const auto* lp = body.if_contains("logprobs"); lp && !lp->is_null()) {
    if (!lp->is_bool()) return BadRequest{"'logprobs' must be a boolean", "logprobs"};
    call.logprobs = lp->get_bool();
  }
  if (const auto* top = body.if_contains("top_logprobs"); top && !top->is_null()) {
    if (!top->is_int64() || top->get_int64() < 0 || top->get_int64() > 20)
      return BadRequest{"'top_logprobs' must be an integer from 0 to 20", "top_logprobs"};
    if (!call.logprobs)
      return BadRequest{"Using top_logprobs requires logprobs to be true.", "top_logprobs"};
    call.top_logprobs = static_cast<std::size_t>(top->get_int64());
  }

  // The deterministic rule for tool calls: the last message is the user's and names a given tool
  // as "call <name>" (optionally followed by its arguments as a JSON object). A forced
  // tool_choice (a named function, or "required") calls that tool (the first one) anyway, with
  // arguments sampled from its parameters.
  std::string forced;
  if (const auto* choice = body.if_contains("tool_choice"); choice && choice->is_object()) {
    const auto* fn = choice->get_object().if_contains("function");
    const auto* name = fn && fn->is_object() ? fn->get_object().if_contains("name") : nullptr;
    if (name && name->is_string()) forced = std::string(name->get_string());
  }
  const bool required = body.contains("tool_choice") && body.at("tool_choice") == "required";
  // "none": the model must answer in words (how an agent's last allowed step is asked).
  const bool none = body.contains("tool_choice") && body.at("tool_choice") == "none";
  MockToolCall first_tool;
  if (const auto* tools = body.if_contains("tools"); tools && tools->is_array()) {
    for (const json::value& t : tools->get_array()) {
      const auto* fn = t.is_object() ? t.get_object().if_contains("function") : nullptr;
      const auto* name = fn && fn->is_object() ? fn->get_object().if_contains("name") : nullptr;
      if (!name || !name->is_string()) {
        return BadRequest{"each tool must have a function with a name", "tools"};
      }
      if (none) continue;
      if (last_role == "tool") {
        if (auto again = requested_arguments(last_user_text, name->get_string(), kKeepCalling))
          call.tool_calls.push_back({std::string(name->get_string()), std::move(*again)});
        continue;
      }
      if (last_role != "user") continue;
      auto args = requested_arguments(last_text, name->get_string());
      if (!args) args = requested_arguments(last_text, name->get_string(), kKeepCalling);
      if (args) {
        call.tool_calls.push_back({std::string(name->get_string()), std::move(*args)});
      } else if (name->get_string() == forced || (required && first_tool.name.empty())) {
        const auto* params = fn->get_object().if_contains("parameters");
        MockToolCall sampled{std::string(name->get_string()),
                             sample_for_schema(params ? json::serialize(*params) : "{}")};
        if (name->get_string() == forced) call.tool_calls.push_back(std::move(sampled));
        else first_tool = std::move(sampled);
      }
    }
    // "required" and nothing asked by name: the first tool, with sampled arguments.
    if (required && call.tool_calls.empty() && !first_tool.name.empty()) call.tool_calls.push_back(first_tool);
  }
  // Several results in a row (parallel calls): the answer quotes every one of them.
  call.answer = last_role == "tool" ? "Mock answer with tool result: " + tool_results
                                    : "Mock answer to: " + last_user_text;
  // JSON mode: the answer is valid JSON (json_object: the text in {"answer": ...}; json_schema:
  // an object sampled from the schema).
  if (const auto* format = body.if_contains("response_format"); format && format->is_object()) {
    const auto* type = format->get_object().if_contains("type");
    if (type && *type == "json_object") {
      call.answer = json::serialize(json::object{{"answer", call.answer}});
    } else if (type && *type == "json_schema") {
      const auto* spec = format->get_object().if_contains("json_schema");
      const auto* schema = spec && spec->is_object() ? spec->get_object().if_contains("schema") : nullptr;
      if (!schema || !schema->is_object())
        return BadRequest{"'response_format.json_schema.schema' must be an object", "response_format"};
      call.answer = sample_for_schema(json::serialize(*schema));
    }
  }
  return std::nullopt;
}

json::object usage_json(std::size_t prompt, std::size_t completion, const Behaviour& b) {
  const std::size_t cached = std::min(b.cached_tokens, prompt);
  // Reasoning tokens are hidden but billed: part of completion_tokens, as OpenAI reports them.
  const std::size_t completion_total = b.claim_output_tokens.value_or(completion + b.reasoning_tokens);
  return json::object{
      {"prompt_tokens", prompt},
      {"completion_tokens", completion_total},
      {"total_tokens", prompt + completion_total},
      {"prompt_tokens_details", json::object{{"cached_tokens", cached}, {"audio_tokens", 0}}},
      {"completion_tokens_details", json::object{{"reasoning_tokens", b.reasoning_tokens},
                                                 {"audio_tokens", 0},
                                                 {"accepted_prediction_tokens", 0},
                                                 {"rejected_prediction_tokens", 0}}}};
}

json::array tool_calls_json(const std::vector<MockToolCall>& calls, const std::vector<std::string>& ids) {
  json::array out;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    out.push_back(json::object{
        {"id", ids[i]},
        {"type", "function"},
        {"function", json::object{{"name", calls[i].name}, {"arguments", calls[i].arguments}}}});
  }
  return out;
}

// chat.completion.chunk events, then "data: [DONE]".
class ChatChunks final : public StreamFraming {
 public:
  ChatChunks(std::string id, const ChatCall& call, Behaviour b, std::vector<std::string> call_ids,
             std::string finish_reason, json::value stop_reason)
      : id_(std::move(id)), model_(call.model), created_(unix_now()),
        include_usage_(call.include_usage), logprobs_(call.logprobs), top_logprobs_(call.top_logprobs),
        prompt_tokens_(call.prompt_tokens),
        tool_calls_(call.tool_calls), call_ids_(std::move(call_ids)),
        finish_reason_(std::move(finish_reason)), stop_reason_(std::move(stop_reason)), b_(std::move(b)) {}

  std::string start() override {
    json::object delta{{"role", "assistant"}};
    if (tool_calls_.empty()) {
      delta["content"] = "";
    } else {
      delta["content"] = nullptr;
    }
    delta["refusal"] = nullptr;
    return chunk(std::move(delta), nullptr);
  }

  std::string delta(std::string_view text) override {
    return chunk(json::object{{"content", text}}, nullptr,
                 logprobs_ ? json::value(logprobs_json(text, top_logprobs_)) : json::value(nullptr));
  }

  std::string malformed() override {
    return http::sse_data(
        fmt::format(R"({{"id":"{}","object":"chat.completion.chunk","choices":[{{"delta":{{"content":)", id_));
  }

  std::string finish(std::size_t text_tokens) override {
    std::string out;
    // Each tool call as OpenAI streams it: id and name first, then the arguments.
    for (std::size_t i = 0; i < tool_calls_.size(); ++i) {
      json::object head{{"index", i},
                        {"id", call_ids_[i]},
                        {"type", "function"},
                        {"function", json::object{{"name", tool_calls_[i].name}, {"arguments", ""}}}};
      out += chunk(json::object{{"tool_calls", json::array{std::move(head)}}}, nullptr);
      // The arguments in two fragments, as the real API splits them, so that clients must join.
      const std::string& arguments = tool_calls_[i].arguments;
      const std::size_t half = arguments.size() / 2;
      for (const std::string_view piece :
           {std::string_view(arguments).substr(0, half), std::string_view(arguments).substr(half)}) {
        json::object args{{"index", i}, {"function", json::object{{"arguments", piece}}}};
        out += chunk(json::object{{"tool_calls", json::array{std::move(args)}}}, nullptr);
      }
    }
    std::string last = chunk(json::object{}, json::string(finish_reason_));
    if (!stop_reason_.is_null()) {  // vLLM's field: the stop sequence that ended the answer
      json::object c = base();
      c["choices"] = json::array{json::object{{"index", 0},
                                              {"delta", json::object{}},
                                              {"logprobs", nullptr},
                                              {"finish_reason", finish_reason_},
                                              {"stop_reason", stop_reason_}}};
      if (include_usage_) c["usage"] = nullptr;
      last = http::sse_data(json::serialize(c));
    }
    out += last;
    if (include_usage_) {
      json::object last = base();
      last["choices"] = json::array{};
      last["usage"] = usage_json(prompt_tokens_, text_tokens + tool_calls_tokens(tool_calls_), b_);
      out += http::sse_data(json::serialize(last));
    }
    out += http::sse_data("[DONE]");
    return out;
  }

 private:
  json::object base() const {
    return json::object{{"id", id_},
                        {"object", "chat.completion.chunk"},
                        {"created", created_},
                        {"model", model_},
                        {"system_fingerprint", "fp_mock"}};
  }

  std::string chunk(json::object delta, json::value finish_reason, json::value logprobs = nullptr) const {
    json::object c = base();
    c["choices"] = json::array{json::object{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", std::move(logprobs)},
                                            {"finish_reason", std::move(finish_reason)}}};
    // With include_usage every chunk but the last carries "usage": null, as the real API sends.
    if (include_usage_) c["usage"] = nullptr;
    return http::sse_data(json::serialize(c));
  }

  std::string id_;
  std::string model_;
  std::int64_t created_;
  bool include_usage_;
  bool logprobs_;
  std::size_t top_logprobs_;
  std::size_t prompt_tokens_;
  std::vector<MockToolCall> tool_calls_;
  std::vector<std::string> call_ids_;
  std::string finish_reason_;
  json::value stop_reason_;
  Behaviour b_;
};

// Authentication, the x-mock-* headers and the JSON body; on failure, the error response.
std::optional<http::Response> admit(Mock& mock, const http::Request& req, Behaviour& b,
                                    json::value& body) {
  mock.stats.count_request(req.path, req.header("x-mock-key").value_or(""));
  if (!openai_key_ok(mock, req)) {
    return req.header("authorization")
               ? openai_error(401, "Incorrect API key provided.", "invalid_api_key")
               : openai_error(401,
                              "You didn't provide an API key. You need to provide your API key in "
                              "an Authorization header using Bearer auth (i.e. Authorization: "
                              "Bearer YOUR_KEY).");
  }
  if (auto err = read_behaviour(req, mock.settings, b)) return openai_error(400, *err);
  boost::system::error_code ec;
  body = json::parse(req.body, ec);
  if (ec || !body.is_object()) {
    return openai_error(400,
                        "We could not parse the JSON body of your request. (HINT: This likely "
                        "means you aren't using your HTTP library correctly. The OpenAI API "
                        "expects a JSON payload.)");
  }
  return std::nullopt;
}

http::Response unknown_model(std::string_view model) {
  return openai_error(
      404, fmt::format("The model `{}` does not exist or you do not have access to it.", model),
      "model_not_found", "model");
}

asio::awaitable<Result<http::Response>> chat_completions(Mock& mock, http::Context& ctx) {
  const http::Request& req = ctx.request;
  Behaviour b;
  json::value body;
  if (auto refused = admit(mock, req, b, body)) co_return std::move(*refused);
  ChatCall call;
  if (auto bad = parse_chat(body.get_object(), call)) {
    co_return openai_error(400, bad->message, {}, bad->param);
  }
  if (!mock.model_known(call.model)) co_return unknown_model(call.model);
  if (const int status = mock.injected_status(b)) {
    co_await wait_like_generation(b, 0);
    co_return with_retry_after(injected_error(status), b);
  }
  if (b.drip) call.tool_calls.clear();  // a drip is endless text

  std::vector<std::string> tokens;
  if (call.tool_calls.empty()) tokens = answer_tokens(call.answer, b.answer_tokens);
  std::string finish_reason = call.tool_calls.empty() ? "stop" : "tool_calls";
  if (call.max_tokens && tokens.size() > *call.max_tokens && !b.ignore_max_tokens) {
    tokens.resize(*call.max_tokens);
    finish_reason = "length";
  }
  // As OpenAI ends an answer at a stop sequence (finish_reason "stop", the sequence left out);
  // which one matched is told as vLLM tells it, in the choice's `stop_reason`.
  json::value stop_reason = nullptr;
  if (auto matched = cut_at_stop(tokens, call.stop)) {
    finish_reason = "stop";
    stop_reason = json::string(*matched);
  }
  std::vector<std::string> call_ids;
  for (std::size_t i = 0; i < call.tool_calls.size(); ++i) call_ids.push_back(mock.new_id("call_mock_"));
  std::string id = mock.new_id("chatcmpl-mock-");

  if (call.stream) {
    auto framing = std::make_shared<ChatChunks>(std::move(id), call, b, std::move(call_ids),
                                                std::move(finish_reason), stop_reason);
    co_return http::sse_response(paced_stream(mock, std::move(b), std::move(tokens), std::move(framing)));
  }

  http::Response res;
  if (b.drip) {
    res.stream = dripping_body(mock, b);
    co_return res;
  }
  json::object message{{"role", "assistant"}};
  if (call.tool_calls.empty()) {
    message["content"] = join(tokens);
  } else {
    message["content"] = nullptr;
    message["tool_calls"] = tool_calls_json(call.tool_calls, call_ids);
  }
  message["refusal"] = nullptr;
  message["annotations"] = json::array{};
  const std::size_t completion = tokens.size() + tool_calls_tokens(call.tool_calls);
  const json::object completion_json{
      {"id", id},
      {"object", "chat.completion"},
      {"created", unix_now()},
      {"model", call.model},
      {"choices", json::array{json::object{{"index", 0},
                                           {"message", std::move(message)},
                                           {"logprobs", call.logprobs && call.tool_calls.empty()
                                                            ? json::value(logprobs_json(join(tokens), call.top_logprobs))
                                                            : json::value(nullptr)},
                                           {"finish_reason", finish_reason},
                                           {"stop_reason", stop_reason}}}},
      {"usage", usage_json(call.prompt_tokens, completion, b)},
      {"service_tier", "default"},
      {"system_fingerprint", "fp_mock"}};
  co_await wait_like_generation(b, completion);
  res.body = json::serialize(completion_json);
  if (b.malformed_after) {
    res.body.resize(res.body.size() / 2);  // a complete response whose JSON is cut short
  } else if (b.drop_after) {
    res.stream = truncated_body(mock, b, std::move(res.body));
    res.body.clear();
  }
  co_return res;
}

// Inputs of /v1/embeddings as texts: a string, strings, token ids, or arrays of token ids (each
// id then counts as one word).
std::optional<BadRequest> embedding_inputs(const json::value& input, std::vector<std::string>& out) {
  const auto ids_text = [](const json::array& ids, std::string& text) {
    for (const json::value& id : ids) {
      if (!id.is_int64()) return false;
      text += fmt::format("#{} ", id.get_int64());
    }
    return !ids.empty();
  };
  const BadRequest invalid{"'$.input' is invalid. Please check the API reference.", "input"};
  if (const auto* s = input.if_string()) {
    if (s->empty()) return invalid;
    out.emplace_back(*s);
    return std::nullopt;
  }
  const auto* arr = input.if_array();
  if (!arr || arr->empty()) return invalid;
  if (arr->front().is_int64()) {
    std::string text;
    if (!ids_text(*arr, text)) return invalid;
    out.push_back(std::move(text));
    return std::nullopt;
  }
  for (const json::value& item : *arr) {
    std::string text;
    if (const auto* s = item.if_string()) {
      if (s->empty()) return invalid;
      text = std::string(*s);
    } else if (const auto* ids = item.if_array(); !ids || !ids_text(*ids, text)) {
      return invalid;
    }
    out.push_back(std::move(text));
  }
  return std::nullopt;
}

asio::awaitable<Result<http::Response>> embeddings(Mock& mock, http::Context& ctx) {
  const http::Request& req = ctx.request;
  Behaviour b;
  json::value body;
  if (auto refused = admit(mock, req, b, body)) co_return std::move(*refused);
  const json::object& obj = body.get_object();
  const auto* model = obj.if_contains("model");
  if (!model || !model->is_string() || model->get_string().empty()) {
    co_return openai_error(400, "you must provide a model parameter", {}, "model");
  }
  const auto* input = obj.if_contains("input");
  std::vector<std::string> texts;
  if (!input) co_return openai_error(400, "'input' is a required property", {}, "input");
  if (auto bad = embedding_inputs(*input, texts)) co_return openai_error(400, bad->message, {}, bad->param);

  // text-embedding-3-large has 3072 dimensions, the others 1536, unless `dimensions` says.
  std::size_t dimensions = model->get_string().find("large") != json::string::npos ? 3072 : 1536;
  if (const auto* d = obj.if_contains("dimensions"); d && !d->is_null()) {
    if (!d->is_int64() || d->get_int64() < 1 || d->get_int64() > static_cast<std::int64_t>(kMaxDimensions)) {
      co_return openai_error(400, fmt::format("'dimensions' must be an integer from 1 to {}", kMaxDimensions), {}, "dimensions");
    }
    dimensions = static_cast<std::size_t>(d->get_int64());
  }
  bool base64 = false;
  if (const auto* f = obj.if_contains("encoding_format"); f && !f->is_null()) {
    if (!f->is_string() || (f->get_string() != "float" && f->get_string() != "base64")) {
      co_return openai_error(400, "'encoding_format' must be 'float' or 'base64'", {}, "encoding_format");
    }
    base64 = f->get_string() == "base64";
  }
  if (!mock.model_known(model->get_string())) co_return unknown_model(model->get_string());
  if (const int status = mock.injected_status(b)) {
    co_await wait_like_generation(b, 0);
    co_return with_retry_after(injected_error(status), b);
  }

  json::array data;
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    tokens += count_tokens(texts[i]);
    const std::vector<float> v = embed(texts[i], dimensions);
    json::value embedding;
    if (base64) {
      embedding = json::string(base64_floats(v));
    } else {
      json::array floats;
      floats.reserve(v.size());
      for (const float x : v) floats.emplace_back(static_cast<double>(x));
      embedding = std::move(floats);
    }
    data.push_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  co_await wait_like_generation(b, 0);
  co_return json_response(
      200, json::object{{"object", "list"},
                        {"data", std::move(data)},
                        {"model", model->get_string()},
                        {"usage", json::object{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

}  // namespace

http::Response openai_error(int status, std::string message, std::string_view code,
                            std::string_view param) {
  json::object error{{"message", std::move(message)},
                     {"type", error_type(status)},
                     {"param", param.empty() ? json::value(nullptr) : json::value(param)},
                     {"code", code.empty() ? json::value(nullptr) : json::value(code)}};
  return json_response(status, json::object{{"error", std::move(error)}});
}

bool openai_key_ok(const Mock& mock, const http::Request& req) {
  if (mock.settings.require_key.empty()) return true;
  const auto auth = req.header("authorization");
  return auth && *auth == "Bearer " + mock.settings.require_key;
}

void add_openai_routes(http::Router& router, Mock& mock) {
  router.add({"POST", "/v1/chat/completions", http::Access::open,
              [&mock](http::Context& ctx) { return chat_completions(mock, ctx); }});
  router.add({"POST", "/v1/embeddings", http::Access::open,
              [&mock](http::Context& ctx) { return embeddings(mock, ctx); }});
}

}  // namespace aas::mockllm
