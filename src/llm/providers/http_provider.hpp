#pragma once
// What the OpenAI and Anthropic providers share: the key choice, the buffered call, the event
// stream into a ChunkSink, and turning what went wrong into an Error. Each vendor supplies its
// wire format (the pure functions of its *_wire.hpp) through the hooks below.
#include "core/clock.hpp"
#include "http/message.hpp"
#include "llm/key_pool.hpp"
#include "llm/provider.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aas::http {
class HttpClient;
struct ClientRequest;
struct ClientResponse;
}  // namespace aas::http

namespace aas::llm::wire {
class StreamDecoder;
struct StreamProgress;
}

namespace aas::llm {

struct ProviderOptions {
  std::string base_url;                             // empty: the vendor's public API
  std::vector<std::string> api_keys;                // rotated; may be empty for local servers
  std::optional<int> default_max_tokens;            // for requests that name none
  std::vector<http::Header> extra_headers;          // lowercase names, e.g. openai-organization
  std::chrono::milliseconds first_byte_timeout{0};  // zero: the HttpClient's own
  std::chrono::milliseconds total_timeout{0};
  std::size_t max_event_bytes = 4 * 1024 * 1024;  // one server-sent event
  std::size_t max_error_body_bytes = 64 * 1024;   // what is kept of an error response
  KeyPool::Policy key_policy;
};

// The system clock, for providers constructed without a test clock.
const Clock& default_provider_clock();

class HttpProvider : public LlmProvider {
 public:
  ~HttpProvider() override;
  boost::asio::awaitable<Result<Completion>> complete(const ChatRequest& req) override;
  boost::asio::awaitable<Result<Completion>> stream(const ChatRequest& req,
                                                    const ChunkSink& sink) override;
  // The answer's state (decoder, event parser, what reached the sink, the HTTP body) in one
  // object, read by one coroutine once flowing.
  boost::asio::awaitable<Result<std::unique_ptr<OpenStream>>> open_stream(const ChatRequest& req,
                                                                          const ChunkSink& sink) override;
  // Whether the vendor's wire can carry the request (request_body succeeds).
  Result<void> supports(const ChatRequest& req) const override;
  // POST {base_url}/{embedding_path()}; cannot_embed when the vendor has no embedding_path.
  boost::asio::awaitable<Result<Embeddings>> embed(const EmbeddingRequest& req) override;

  const KeyPool& keys() const { return keys_; }

 protected:
  HttpProvider(std::shared_ptr<http::HttpClient> client, ProviderOptions options,
               const Clock& clock);
  const ProviderOptions& options() const { return options_; }

  // The vendor's wire format.
  virtual std::string endpoint_path() const = 0;  // appended to base_url
  // invalid_request for what the vendor cannot honour (naming the parameter): nothing is sent.
  virtual Result<std::string> request_body(const ChatRequest& req, bool stream) const = 0;
  virtual std::vector<http::Header> request_headers(const std::string* api_key,
                                                    bool stream) const = 0;
  virtual Result<Completion> parse_response(std::string_view body,
                                            const ChatRequest& req) const = 0;
  virtual std::unique_ptr<wire::StreamDecoder> make_decoder(const ChatRequest& req) const = 0;
  // Embeddings: a vendor that has them names its endpoint (empty: it cannot embed).
  virtual std::string embedding_path() const { return {}; }
  virtual std::string embedding_body(const EmbeddingRequest&) const { return {}; }
  virtual Result<Embeddings> parse_embeddings(std::string_view, const EmbeddingRequest& req) const {
    return cannot_embed(req.model);
  }
  virtual Error map_error(int status, const std::vector<http::Header>& headers,
                          std::string_view body, TimePoint now) const = 0;

 private:
  http::ClientRequest make_request(std::string path, std::string body, bool stream,
                                   const std::optional<KeyPool::Lease>& lease) const;
  // A non-streamed POST: the answer's body through `parse`, failures mapped and reported.
  template <class T, class Parse>
  boost::asio::awaitable<Result<T>> buffered(std::string path, std::string body, Parse parse);
  class Stream;
  Result<Completion> stream_outcome(Stream& s);
  // Reports the outcome to the key pool and scrubs the key from the error's detail.
  Error failed(const std::optional<KeyPool::Lease>& lease, Error e);
  void succeeded(const std::optional<KeyPool::Lease>& lease);

  std::shared_ptr<http::HttpClient> client_;
  ProviderOptions options_;
  const Clock& clock_;
  KeyPool keys_;
};

}  // namespace aas::llm
