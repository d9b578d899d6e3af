#include "app/knowledge_retriever.hpp"

namespace aas::app {

namespace {

// A citation's snippet: the passage's first 300 code points (cut on a code point boundary).
std::string snippet_of(const std::string& text) {
  constexpr std::size_t kMaxPoints = 300;
  std::size_t points = 0, i = 0;
  while (i < text.size() && points < kMaxPoints) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    ++points;
  }
  return i < text.size() ? text.substr(0, i) + "…" : text;
}

}  // namespace

Result<void> KnowledgeRetriever::check(const std::string& user_id, const std::vector<std::string>& kb_ids) {
  return knowledge_.check_bases_now(user_id, kb_ids);
}

namespace {

// The passages as citations numbered from 1, in rank order.
std::vector<chat::Citation> citations_of(std::vector<knowledge::Passage>& passages) {
  std::vector<chat::Citation> out;
  for (knowledge::Passage& p : passages) {
    chat::Citation c;
    c.index = static_cast<int>(out.size()) + 1;
    c.document_id = std::move(p.document_id);
    c.knowledge_base_id = std::move(p.knowledge_base_id);
    c.title = std::move(p.title);
    c.chunk_id = std::move(p.chunk_id);
    c.snippet = snippet_of(p.text);
    c.text = std::move(p.text);
    c.start = p.start;
    c.end = p.end;
    c.page = p.page;
    c.score = p.score;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

Result<std::vector<chat::Citation>> KnowledgeRetriever::retrieve(const std::string& user_id,
                                                                 const std::vector<std::string>& kb_ids,
                                                                 const std::string& query) {
  auto passages = knowledge_.retrieve_now(user_id, kb_ids, query);
  if (!passages) return passages.error();
  return citations_of(*passages);
}

Result<std::vector<chat::Citation>> KnowledgeRetriever::search(const std::string& user_id,
                                                               const std::vector<std::string>& kb_ids,
                                                               const std::string& query, int k) {
  auto passages = knowledge_.search_now(user_id, kb_ids, query, k, knowledge::SearchMode::lexical);
  if (!passages) return passages.error();
  return citations_of(*passages);
}

}  // namespace aas::app
