#include "auth/backend.hpp"

#include "http/client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <unordered_map>

namespace aas::auth {

namespace json = boost::json;

namespace {

// The cache key: a token's SHA-256, so a heap dump of the cache holds no usable token.
std::string token_digest(std::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

Error refused() {
  return make_error(errc::unauthorized, "invalid token", "the main backend refused the token");
}

Error unreachable(std::string detail) {
  return make_error(errc::unavailable, "the token could not be verified right now",
                    "main backend token check: " + std::move(detail));
}

bool says_false(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && !v->get_bool();
}

}  // namespace

Result<Principal> principal_from_backend_body(std::string_view body, const JwtOptions& claims) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object())
    return make_error(errc::upstream_error, "the token could not be verified",
                      "main backend answered 2xx without a JSON object");
  const json::object& top = parsed.get_object();
  if (says_false(top, "valid") || says_false(top, "success")) return refused();

  const json::object* user = &top;
  const json::object* data = nullptr;
  if (const json::value* d = top.if_contains("data"); d && d->is_object()) {
    data = &d->get_object();
    if (says_false(*data, "valid")) return refused();
    user = data;
  }
  for (const json::object* holder : {&top, data}) {
    if (holder == nullptr) continue;
    if (const json::value* u = holder->if_contains("user"); u && u->is_object()) {
      user = &u->get_object();
      break;
    }
  }
  Result<Principal> p = principal_from_claims(*user, claims);
  if (!p)
    return make_error(errc::upstream_error, "the token could not be verified",
                      "main backend's answer names no usable user: " + p.error().detail);
  return p;
}

struct BackendAuthenticator::Cache {
  struct Entry {
    Result<Principal> answer;
    TimePoint expires;
  };
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;

  std::optional<Result<Principal>> find(const std::string& key, TimePoint now) {
    std::lock_guard lock(mu);
    auto it = entries.find(key);
    if (it == entries.end()) return std::nullopt;
    if (it->second.expires <= now) {
      entries.erase(it);
      return std::nullopt;
    }
    return it->second.answer;
  }

  void put(std::string key, Result<Principal> answer, TimePoint expires, TimePoint now,
           std::size_t capacity) {
    std::lock_guard lock(mu);
    if (entries.size() >= capacity) {
      std::erase_if(entries, [now](const auto& kv) { return kv.second.expires <= now; });
      // Still full of live entries (a flood of distinct tokens): forget them all rather than
      // grow; the cost is one backend call per token again.
      if (entries.size() >= capacity) entries.clear();
    }
    entries.insert_or_assign(std::move(key), Entry{std::move(answer), expires});
  }
};

BackendAuthenticator::BackendAuthenticator(const JwtVerifier& local,
                                           std::shared_ptr<http::HttpClient> client,
                                           BackendOptions backend, JwtOptions claims,
                                           const Clock& clock)
    : local_(local),
      client_(std::move(client)),
      backend_(std::move(backend)),
      claims_(std::move(claims)),
      clock_(clock),
      cache_(std::make_unique<Cache>()) {
  while (!backend_.base_url.empty() && backend_.base_url.back() == '/') backend_.base_url.pop_back();
}

BackendAuthenticator::~BackendAuthenticator() = default;

boost::asio::awaitable<Result<Principal>> BackendAuthenticator::authenticate(
    std::string_view token) const {
  Result<Principal> local = local_.verify(token);
  if (local) co_return local;

  std::string key = token_digest(token);
  if (auto cached = cache_->find(key, clock_.now())) co_return std::move(*cached);

  http::ClientRequest req;
  req.method = "GET";
  req.url = backend_.base_url + "/api/auth/verify";
  req.headers.push_back({"authorization", "Bearer " + std::string(token)});
  req.headers.push_back({"accept", "application/json"});
  req.first_byte_timeout = backend_.timeout;
  req.total_timeout = backend_.timeout;
  Result<http::ClientResponse> res = co_await client_->request(std::move(req));
  if (!res) {
    spdlog::warn("main backend token check failed: {}", res.error().detail.empty()
                                                          ? res.error().message
                                                          : res.error().detail);
    co_return unreachable(res.error().detail);
  }

  Result<Principal> answer = refused();
  if (res->status == 401 || res->status == 403) {
    // refused, as initialised
  } else if (res->status >= 200 && res->status < 300) {
    answer = principal_from_backend_body(res->body, claims_);
    if (!answer && answer.error().code != errc::unauthorized) {
      spdlog::warn("main backend token check: {}", answer.error().detail);
      co_return unreachable(answer.error().detail);
    }
  } else {
    spdlog::warn("main backend token check answered HTTP {}", res->status);
    co_return unreachable("HTTP " + std::to_string(res->status));
  }

  const TimePoint now = clock_.now();
  const auto ttl = answer ? backend_.positive_ttl : backend_.negative_ttl;
  if (ttl.count() > 0)
    cache_->put(std::move(key), answer, now + ttl, now, backend_.max_cache_entries);
  co_return answer;
}

}  // namespace aas::auth
