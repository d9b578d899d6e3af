#pragma once
// The knowledge module's Embedder over the gateway's embeddings path (chat::GatewayService::embed):
// the same model lookup, router (retries, fallbacks), limits, budgets and `embedding` ledger rows
// as POST /v1/embeddings. app/ is where the two modules meet.
#include "chat/gateway_service.hpp"
#include "knowledge/embedder.hpp"
#include "llm/models.hpp"

#include <boost/asio/any_io_executor.hpp>

namespace aas::app {

class GatewayEmbedder final : public knowledge::Embedder {
 public:
  // `gateway` must do its blocking steps (admission, the ledger row) on a pool of its own: embed()
  // blocks a thread of the shared blocking pool while the call runs on `io`, and a gateway on that
  // same pool could find every one of its threads waiting like this one.
  GatewayEmbedder(chat::GatewayService& gateway, const llm::ModelRegistry& models, boost::asio::any_io_executor io)
      : gateway_(gateway), models_(models), io_(std::move(io)) {}

  Result<void> check_model(const std::string& model) const override;
  Result<std::vector<std::vector<float>>> embed(const knowledge::EmbedCall& call) override;

 private:
  chat::GatewayService& gateway_;
  const llm::ModelRegistry& models_;
  boost::asio::any_io_executor io_;
};

}  // namespace aas::app
