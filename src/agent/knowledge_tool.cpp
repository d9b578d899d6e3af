#include "agent/knowledge_tool.hpp"

#include "core/offload.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace aas::agent {

namespace json = boost::json;

namespace {
constexpr int kDefaultK = 5;
}

KnowledgeSearchTool::KnowledgeSearchTool(chat::Retriever& retriever, boost::asio::thread_pool& blocking, int max_k)
    : retriever_(retriever), blocking_(blocking) {
  definition_.name = std::string(kName);
  definition_.description =
      "Searches the knowledge bases attached to this conversation. Returns the best passages, each numbered "
      "[n]; cite a passage you use by its number, as [n].";
  const json::object query{{"type", "string"}, {"minLength", 1}, {"maxLength", 2000},
                           {"description", "what to look for: words the passages you need contain"}};
  const json::object k{{"type", "integer"}, {"minimum", 1}, {"maximum", std::max(1, max_k)},
                       {"description", "how many passages, at most (default 5)"}};
  definition_.parameters = json::serialize(json::object{{"type", "object"},
                                                        {"properties", json::object{{"query", query}, {"k", k}}},
                                                        {"required", json::array{"query"}},
                                                        {"additionalProperties", false}});
}

std::string describe_passages(const std::vector<chat::Citation>& found, const std::vector<int>& numbers) {
  if (found.empty()) return "no passage matched the query";
  std::string out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const chat::Citation& c = found[i];
    if (!out.empty()) out += "\n\n";
    out += "[" + std::to_string(numbers[i]) + "] " + c.title;
    if (c.page) out += " (page " + std::to_string(*c.page) + ")";
    out += "\n" + c.text;
  }
  return out;
}

boost::asio::awaitable<ToolOutput> KnowledgeSearchTool::call(const boost::json::object& args, const ToolContext& ctx) {
  if (ctx.knowledge_base_ids.empty()) co_return ToolOutput{"this conversation has no knowledge bases", true};
  const std::string query(args.at("query").as_string());
  int k = kDefaultK;
  if (const auto* v = args.if_contains("k")) k = static_cast<int>(v->to_number<std::int64_t>());
  auto found = co_await offload(blocking_, [&]() { return retriever_.search(ctx.user_id, ctx.knowledge_base_ids, query, k); });
  if (!found) {
    // The client's message (never the detail): "knowledge base not found", "k must be ...".
    co_return ToolOutput{"the search failed: " + found.error().message, true};
  }
  std::vector<int> numbers;
  for (const chat::Citation& c : *found) numbers.push_back(ctx.citations ? ctx.citations->number(c) : c.index);
  co_return ToolOutput{describe_passages(*found, numbers), false};
}

}  // namespace aas::agent
