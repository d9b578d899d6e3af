// GET /metrics: the Prometheus text exposition.
#include "api/api.hpp"
#include "http/dispatcher.hpp"
#include "metrics/metrics.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

namespace aas::api {

namespace {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view s) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

// Compares digests rather than the strings, so that neither the content nor the length of the
// configured token shows in the time taken.
bool same_token(std::string_view given, std::string_view expected) {
  const Digest a = sha256(given);
  const Digest b = sha256(expected);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Open in the router's sense (no user JWT: Prometheus has none), but guarded by METRICS_TOKEN
// when that is set.
boost::asio::awaitable<Result<http::Response>> scrape(Services& s, http::Context& c) {
  if (!s.metrics_token.empty()) {
    const Result<std::string_view> token = http::bearer_token(c.request);
    if (!token) co_return token.error();
    if (!same_token(*token, s.metrics_token))
      co_return make_error(errc::unauthorized, "invalid metrics token");
  }
  http::Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = s.metrics.expose();
  co_return r;
}

}  // namespace

void add_metrics_routes(http::Router& router, Services& s) {
  router.add({"GET", "/metrics", http::Access::open,
              [&s](http::Context& c) { return scrape(s, c); }});
}

}  // namespace aas::api
