#pragma once
// The retrieval stage of a turn: the passages of the user's knowledge bases that the model is
// sent (numbered for citation) and the citations the answer carries. An interface, so the chat
// does not depend on the knowledge module (app/ wires knowledge::KnowledgeService behind it).
#include "core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aas::chat {

// A passage the model was given as [index], and what a client needs to show where it came from.
struct Citation {
  int index = 0;  // 1-based: the [n] the model cites
  std::string document_id;
  std::string knowledge_base_id;
  std::string title;
  std::string chunk_id;
  std::string text;     // the whole passage (sent to the model; not stored)
  std::string snippet;  // its first few hundred characters (stored with the answer)
  std::int64_t start = 0;  // character offsets of the passage in the document's text
  std::int64_t end = 0;
  std::optional<std::int64_t> page;
  double score = 0;
};

class Retriever {
 public:
  virtual ~Retriever() = default;
  // not_found unless every id is a knowledge base of the user's. Blocking: called on the
  // blocking pool, in the turn's planning.
  virtual Result<void> check(const std::string& user_id, const std::vector<std::string>& kb_ids) = 0;
  // The passages for `query` from those bases (within the retrieval token budget), numbered.
  virtual Result<std::vector<Citation>> retrieve(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                                 const std::string& query) = 0;
  // The top `k` passages for `query` from those bases (no token budget), numbered from 1: the
  // agent's knowledge_search tool. not_found unless every id is a base of the user's;
  // invalid_request for an empty query or k outside what the knowledge service allows.
  virtual Result<std::vector<Citation>> search(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                               const std::string& query, int k) = 0;
};

// The citations as the JSON array stored in an answer's metadata (camelCase, as the API shows
// them; no passage text beyond the snippet).
std::string citations_json(const std::vector<Citation>& citations);

}  // namespace aas::chat
