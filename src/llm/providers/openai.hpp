#pragma once
// OpenAI Chat Completions over HTTP, and every server that speaks it (Ollama, vLLM, llama.cpp
// server, LM Studio, Groq, ...): base_url names the API root, e.g. https://api.openai.com/v1 or
// http://localhost:11434/v1, and requests go to {base_url}/chat/completions.
#include "llm/providers/http_provider.hpp"

namespace aas::llm {

class OpenAiProvider final : public HttpProvider {
 public:
  static constexpr std::string_view default_base_url = "https://api.openai.com/v1";

  struct Options : ProviderOptions {
    // OpenAI's reasoning models want max_completion_tokens instead of max_tokens.
    bool use_max_completion_tokens = false;
  };

  OpenAiProvider(std::shared_ptr<http::HttpClient> client, Options options,
                 const Clock& clock = default_provider_clock());
  std::string_view name() const override { return "openai"; }

 private:
  std::string endpoint_path() const override { return "chat/completions"; }
  Result<std::string> request_body(const ChatRequest& req, bool stream) const override;
  std::string embedding_path() const override { return "embeddings"; }
  std::string embedding_body(const EmbeddingRequest& req) const override;
  Result<Embeddings> parse_embeddings(std::string_view body, const EmbeddingRequest& req) const override;
  std::vector<http::Header> request_headers(const std::string* api_key, bool stream) const override;
  Result<Completion> parse_response(std::string_view body, const ChatRequest& req) const override;
  std::unique_ptr<wire::StreamDecoder> make_decoder(const ChatRequest& req) const override;
  Error map_error(int status, const std::vector<http::Header>& headers, std::string_view body,
                  TimePoint now) const override;

  bool use_max_completion_tokens_;
};

}  // namespace aas::llm
