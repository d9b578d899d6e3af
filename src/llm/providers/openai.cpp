#include "llm/providers/openai.hpp"

#include "llm/providers/openai_wire.hpp"

namespace aas::llm {

namespace {
ProviderOptions with_default_url(ProviderOptions o) {
  if (o.base_url.empty()) o.base_url = OpenAiProvider::default_base_url;
  return o;
}
}  // namespace

OpenAiProvider::OpenAiProvider(std::shared_ptr<http::HttpClient> client, Options options,
                               const Clock& clock)
    : HttpProvider(std::move(client), with_default_url(options), clock),
      use_max_completion_tokens_(options.use_max_completion_tokens) {}

Result<std::string> OpenAiProvider::request_body(const ChatRequest& req, bool stream) const {
  return openai_wire::build_request(req, stream,
                                    {options().default_max_tokens, use_max_completion_tokens_});
}

std::vector<http::Header> OpenAiProvider::request_headers(const std::string* api_key,
                                                          bool stream) const {
  return openai_wire::build_headers(api_key, stream, options().extra_headers);
}

Result<Completion> OpenAiProvider::parse_response(std::string_view body,
                                                  const ChatRequest& req) const {
  return openai_wire::parse_response(body, req);
}

std::unique_ptr<wire::StreamDecoder> OpenAiProvider::make_decoder(const ChatRequest&) const {
  return std::make_unique<openai_wire::StreamDecoder>();
}

std::string OpenAiProvider::embedding_body(const EmbeddingRequest& req) const {
  return openai_wire::build_embedding_request(req);
}

Result<Embeddings> OpenAiProvider::parse_embeddings(std::string_view body,
                                                    const EmbeddingRequest& req) const {
  return openai_wire::parse_embedding_response(body, req);
}

Error OpenAiProvider::map_error(int status, const std::vector<http::Header>& headers,
                                std::string_view body, TimePoint now) const {
  return openai_wire::map_error(status, headers, body, now);
}

}  // namespace aas::llm
