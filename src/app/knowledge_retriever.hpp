#pragma once
// The chat's Retriever (chat/retriever.hpp) over the knowledge service: app/ is where the two
// modules meet, so neither depends on the other.
#include "chat/retriever.hpp"
#include "knowledge/service.hpp"

namespace aas::app {

class KnowledgeRetriever final : public chat::Retriever {
 public:
  explicit KnowledgeRetriever(knowledge::KnowledgeService& knowledge) : knowledge_(knowledge) {}
  Result<void> check(const std::string& user_id, const std::vector<std::string>& kb_ids) override;
  Result<std::vector<chat::Citation>> retrieve(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                               const std::string& query) override;
  Result<std::vector<chat::Citation>> search(const std::string& user_id, const std::vector<std::string>& kb_ids,
                                             const std::string& query, int k) override;

 private:
  knowledge::KnowledgeService& knowledge_;
};

}  // namespace aas::app
