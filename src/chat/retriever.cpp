#include "chat/retriever.hpp"

#include <boost/json.hpp>

namespace aas::chat {

std::string citations_json(const std::vector<Citation>& citations) {
  boost::json::array a;
  for (const Citation& c : citations) {
    boost::json::object o;
    o["index"] = c.index;
    o["documentId"] = c.document_id;
    o["knowledgeBaseId"] = c.knowledge_base_id;
    o["title"] = c.title;
    o["chunkId"] = c.chunk_id;
    o["snippet"] = c.snippet;
    o["start"] = c.start;
    o["end"] = c.end;
    o["page"] = c.page ? boost::json::value(*c.page) : boost::json::value(nullptr);
    o["score"] = c.score;
    a.push_back(std::move(o));
  }
  return boost::json::serialize(a);
}

}  // namespace aas::chat
