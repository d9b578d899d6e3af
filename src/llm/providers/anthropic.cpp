#include "llm/providers/anthropic.hpp"

#include "llm/providers/anthropic_wire.hpp"

namespace aas::llm {

namespace {
ProviderOptions with_default_url(ProviderOptions o) {
  if (o.base_url.empty()) o.base_url = AnthropicProvider::default_base_url;
  return o;
}
}  // namespace

AnthropicProvider::AnthropicProvider(std::shared_ptr<http::HttpClient> client, Options options,
                                     const Clock& clock)
    : HttpProvider(std::move(client), with_default_url(std::move(options)), clock) {}

Result<std::string> AnthropicProvider::request_body(const ChatRequest& req, bool stream) const {
  return anthropic_wire::build_request(req, stream, {options().default_max_tokens});
}

std::vector<http::Header> AnthropicProvider::request_headers(const std::string* api_key,
                                                             bool stream) const {
  return anthropic_wire::build_headers(api_key, stream, options().extra_headers);
}

Result<Completion> AnthropicProvider::parse_response(std::string_view body,
                                                     const ChatRequest& req) const {
  return anthropic_wire::parse_response(body, req);
}

std::unique_ptr<wire::StreamDecoder> AnthropicProvider::make_decoder(const ChatRequest& req) const {
  return std::make_unique<anthropic_wire::StreamDecoder>(req);
}

Error AnthropicProvider::map_error(int status, const std::vector<http::Header>& headers,
                                   std::string_view body, TimePoint now) const {
  return anthropic_wire::map_error(status, headers, body, now);
}

}  // namespace aas::llm
