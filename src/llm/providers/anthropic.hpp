#pragma once
// Anthropic's Messages API over HTTP: base_url names the API root (https://api.anthropic.com/v1)
// and requests go to {base_url}/messages, authenticated with x-api-key and anthropic-version.
#include "llm/providers/http_provider.hpp"

namespace aas::llm {

class AnthropicProvider final : public HttpProvider {
 public:
  static constexpr std::string_view default_base_url = "https://api.anthropic.com/v1";

  // default_max_tokens falls back to anthropic_wire::fallback_max_tokens (4096): the API
  // requires max_tokens on every request.
  using Options = ProviderOptions;

  AnthropicProvider(std::shared_ptr<http::HttpClient> client, Options options,
                    const Clock& clock = default_provider_clock());
  std::string_view name() const override { return "anthropic"; }

 private:
  std::string endpoint_path() const override { return "messages"; }
  Result<std::string> request_body(const ChatRequest& req, bool stream) const override;
  std::vector<http::Header> request_headers(const std::string* api_key, bool stream) const override;
  Result<Completion> parse_response(std::string_view body, const ChatRequest& req) const override;
  std::unique_ptr<wire::StreamDecoder> make_decoder(const ChatRequest& req) const override;
  Error map_error(int status, const std::vector<http::Header>& headers, std::string_view body,
                  TimePoint now) const override;
};

}  // namespace aas::llm
