#include "app/knowledge_embedder.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

namespace aas::app {

Result<void> GatewayEmbedder::check_model(const std::string& model) const {
  auto found = models_.find(model);
  if (!found) return make_error(errc::invalid_request, "embeddingModel: unknown model '" + model + "'");
  if (!(*found)->embedding)
    return make_error(errc::invalid_request,
                      "embeddingModel: '" + model + "' is not an embedding model (see GET /api/ai/v1/models)");
  return {};
}

Result<std::vector<std::vector<float>>> GatewayEmbedder::embed(const knowledge::EmbedCall& call) {
  chat::EmbeddingCall req;
  req.user_id = call.user_id;
  req.model = call.model;
  req.inputs = call.texts;
  auto done = boost::asio::co_spawn(
      io_,
      [this, req = std::move(req)]() mutable -> boost::asio::awaitable<Result<std::vector<std::vector<float>>>> {
        // A named local moved in: g++ 12 destroys temporaries in a co_await's arguments twice.
        chat::EmbeddingCall mine = std::move(req);
        auto r = co_await gateway_.embed(std::move(mine));
        if (!r) co_return r.error();
        co_return std::move(r->vectors);
      },
      boost::asio::use_future);
  return done.get();
}

}  // namespace aas::app
