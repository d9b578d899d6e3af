#pragma once
// A tool declared under `tools:` that calls the monolith's API with the user's own token, so the
// monolith enforces what the user may see and change. Where the request goes is fixed by the
// configuration: the model's arguments only fill the path's placeholders (each percent-encoded as
// one segment), the query and the JSON body.
#include "agent/settings.hpp"
#include "agent/tool.hpp"

#include <memory>

namespace aas::http { class HttpClient; }

namespace aas::agent {

// The request an HTTP tool makes for some arguments (exposed for tests).
struct PlannedRequest {
  std::string method;
  std::string url;
  std::string body;  // JSON text, or empty
};
// invalid_request when a path argument is missing or names no segment ("", ".", "..").
Result<PlannedRequest> plan_request(const HttpToolSpec& spec, std::string_view backend_url,
                                    const boost::json::object& args);

// The monolith's answer as the model sees it: a JSON body as compact JSON, text as text, anything
// else described rather than passed on. A status other than 2xx is a tool error that carries the
// monolith's own message.
ToolOutput describe_response(int status, std::string_view content_type, std::string_view body);

class HttpTool final : public Tool {
 public:
  HttpTool(HttpToolSpec spec, std::string backend_url, std::shared_ptr<http::HttpClient> client);
  const llm::ToolDefinition& definition() const override { return definition_; }
  bool needs_confirmation() const override { return spec_.confirm; }
  bool allowed_for(const std::vector<std::string>& roles) const override;
  boost::asio::awaitable<ToolOutput> call(const boost::json::object& args, const ToolContext& ctx) override;

 private:
  HttpToolSpec spec_;
  std::string backend_url_;
  std::shared_ptr<http::HttpClient> client_;
  llm::ToolDefinition definition_;
};

}  // namespace aas::agent
