#pragma once
// The embedder port: texts to vectors for a user, with a named model. app/ puts the gateway's
// /v1/embeddings path behind it (the router's retries and fallbacks, the user's limits and
// budget, an `embedding` ledger row per call), so knowledge never sees the chat module.
#include "core/error.hpp"

#include <string>
#include <vector>

namespace aas::knowledge {

struct EmbedCall {
  std::string user_id;  // admitted by and billed to
  std::string model;
  std::vector<std::string> texts;
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  // invalid_request unless `model` is a configured model that serves embeddings.
  virtual Result<void> check_model(const std::string& model) const = 0;
  // One vector per text, in order. Blocking: called from the blocking pool (ingestion workers,
  // searches, a chat turn's retrieval); the implementation must not need a thread of that pool.
  virtual Result<std::vector<std::vector<float>>> embed(const EmbedCall& call) = 0;
};

}  // namespace aas::knowledge
