// A request body and query string as a client sends them -> the JSON readers of src/api: the
// envelope (parse_object, with its NUL refusal), the field readers the native routes use, the
// native chat message (text or parts), the OpenAI chat-completions and embeddings bodies (with
// llm::validate_request behind them), pagination and the store's cursor decoders. Every input
// must end in a value or a 400 (invalid_request), never a crash or another error.
#include "api/content_json.hpp"
#include "api/json_io.hpp"
#include "api/openai_request.hpp"
#include "store/cursor.hpp"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

// The readers refuse with invalid_request (400) or payload_too_large (413) only.
template <class R>
void expect_client_error(const R& r) {
  if (r.has_error() && r.error().code != aas::errc::invalid_request &&
      r.error().code != aas::errc::payload_too_large)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  aas::http::Request req;
  req.method = "POST";
  // Everything after the first newline is the query string; the rest is the body.
  const auto nl = bytes.find('\n');
  req.body = std::string(bytes.substr(0, nl));
  if (nl != std::string_view::npos) req.query_string = std::string(bytes.substr(nl + 1));

  const auto page = aas::api::page_request(req, 20);
  expect_client_error(page);
  if (page && page->cursor) {
    (void)aas::store::decode_conversation_cursor(*page->cursor);
    (void)aas::store::decode_message_cursor(*page->cursor);
  }

  const auto body = aas::api::parse_object(req);
  expect_client_error(body);
  if (!body) return 0;
  expect_client_error(aas::api::allow_only(*body, {"message", "conversationId", "model", "stream"}));
  expect_client_error(aas::api::optional_string(*body, "model"));
  expect_client_error(aas::api::optional_bool(*body, "stream"));
  expect_client_error(aas::api::nullable_string(*body, "title"));
  // Stored as text and parsed again when read: what is accepted must read back as JSON.
  const auto metadata = aas::api::optional_object_text(*body, "metadata");
  expect_client_error(metadata);
  if (metadata && *metadata) {
    boost::system::error_code ec;
    (void)boost::json::parse(**metadata, ec);
    if (ec) std::abort();
  }
  if (const auto* message = body->if_contains("message")) {
    aas::llm::ChatMessage m;
    expect_client_error(aas::api::read_content(*message, "message", m));
  }
  if (const auto* calls = body->if_contains("tool_calls"))
    expect_client_error(aas::api::read_tool_calls(*calls, "tool_calls"));
  aas::llm::ValidationLimits limits;
  limits.max_image_bytes = 4096;
  expect_client_error(aas::api::openai::read_chat_completion(*body, limits));
  expect_client_error(aas::api::openai::read_embeddings(*body));
  return 0;
}
