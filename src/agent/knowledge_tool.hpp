#pragma once
// knowledge_search: the model searches the knowledge bases the turn answers from (the turn's
// knowledgeBaseIds, else the conversation's) when it decides it needs to, on top of the passages
// the chat retrieved for the question. The passages come back numbered; the answer cites them as
// [n] and they join the answer's citations (JSON, SSE/Socket.IO `citations`, stored with it).
// Only the user's own bases are searched (the knowledge service refuses any other as not_found).
#include "agent/tool.hpp"

namespace boost::asio { class thread_pool; }

namespace aas::agent {

class KnowledgeSearchTool final : public Tool {
 public:
  static constexpr std::string_view kName = "knowledge_search";
  KnowledgeSearchTool(chat::Retriever& retriever, boost::asio::thread_pool& blocking, int max_k);
  const llm::ToolDefinition& definition() const override { return definition_; }
  boost::asio::awaitable<ToolOutput> call(const boost::json::object& args, const ToolContext& ctx) override;

 private:
  chat::Retriever& retriever_;
  boost::asio::thread_pool& blocking_;
  llm::ToolDefinition definition_;
};

// The passages as the model reads them: "[n] title (page p)\n<text>" each, numbered by `numbers`.
std::string describe_passages(const std::vector<chat::Citation>& found, const std::vector<int>& numbers);

}  // namespace aas::agent
