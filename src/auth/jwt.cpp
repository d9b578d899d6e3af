#include "auth/jwt.hpp"

#include <boost/json.hpp>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace aas::auth {
namespace {

namespace json = boost::json;

// A bearer header is limited anyway; a cap keeps hostile input from costing parse time.
constexpr std::size_t kMaxTokenBytes = 8 * 1024;
constexpr std::size_t kMaxUserIdBytes = 256;

struct JwtFree {
  void operator()(jwt_t* j) const noexcept { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

// libjwt 1.10 hands out strings from its allocator, which is malloc unless jwt_set_alloc is called
// (we never call it).
struct MallocFree {
  void operator()(char* p) const noexcept { std::free(p); }
};
using CString = std::unique_ptr<char, MallocFree>;

// The algorithms we support, by their exact RFC 7518 names (libjwt compares case-insensitively;
// we do not).
std::optional<jwt_alg_t> supported_alg(std::string_view name) {
  if (name == "HS256") return JWT_ALG_HS256;
  if (name == "RS256") return JWT_ALG_RS256;
  if (name == "ES256") return JWT_ALG_ES256;
  return std::nullopt;
}

Error unauthorized(std::string message, std::string detail) {
  return make_error(errc::unauthorized, std::move(message), std::move(detail));
}

Error invalid_token(std::string detail) { return unauthorized("invalid token", std::move(detail)); }

// The 6-bit value of a base64url character; -1 for any other character.
int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Only used for the header, to pick the key before libjwt checks the signature over it.
std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
    }
  }
  return out;
}

// A claim that is absent or JSON null counts as absent.
const json::value* find_claim(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  return (v && !v->is_null()) ? v : nullptr;
}

// NumericDate (RFC 7519 §2): seconds since the epoch, fractions allowed (cut off here). A value
// outside 0 .. 9999-12-31T23:59:59Z (1e308, a negative time, a number past int64) is no date an
// issuer writes: refused, not clamped, so a token cannot claim to live forever.
constexpr std::int64_t kLastNumericDate = 253'402'300'799;

std::optional<std::int64_t> numeric_date(const json::value& v) {
  if (v.is_int64()) {
    const std::int64_t n = v.get_int64();
    if (n < 0 || n > kLastNumericDate) return std::nullopt;
    return n;
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kLastNumericDate)) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;  // a string, or a uint64 beyond int64
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

Result<std::string> user_id_from(const json::value& v, std::string_view claim) {
  // RFC 7519 makes `sub` a StringOrURI; taking 12345 as "12345" would let two different claims
  // name one user. Custom claims (id, userId) keep integers: monoliths sign their numeric ids.
  if (claim == "sub" && !v.is_string())
    return unauthorized("invalid token: claim 'sub' must be a string", "sub is not a string");
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  if (v.is_string()) {
    const json::string& s = v.get_string();
    if (s.empty() || s.size() > kMaxUserIdBytes || has_control_chars(s)) {
      return invalid_token("claim '" + std::string(claim) +
                           "' is empty, longer than 256 bytes or has control characters");
    }
    return std::string(s);
  }
  return invalid_token("claim '" + std::string(claim) + "' is neither a string nor an integer");
}

Result<std::vector<std::string>> roles_from(const json::value& v, std::string_view claim) {
  std::vector<std::string> roles;
  if (v.is_string()) {
    if (!v.get_string().empty()) roles.emplace_back(v.get_string());
    return roles;
  }
  if (v.is_array()) {
    for (const json::value& r : v.get_array()) {
      if (!r.is_string()) {
        return invalid_token("claim '" + std::string(claim) + "' has a non-string element");
      }
      roles.emplace_back(r.get_string());
    }
    return roles;
  }
  return invalid_token("claim '" + std::string(claim) +
                       "' is neither a string nor an array of strings");
}

bool audience_matches(const json::value& aud, std::string_view expected) {
  if (aud.is_string()) return aud.get_string() == expected;
  if (aud.is_array()) {
    const json::array& a = aud.get_array();
    return std::any_of(a.begin(), a.end(), [&](const json::value& v) {
      return v.is_string() && v.get_string() == expected;
    });
  }
  return false;
}

// Fails fast at start-up on a key that libjwt would reject for every token anyway.
bool parses_as_public_key(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return false;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  return key != nullptr;
}

}  // namespace

JwtVerifier::JwtVerifier(JwtOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  if (options_.algorithms.empty()) {
    throw std::invalid_argument("JWT: no algorithm is allowed");
  }
  for (const std::string& alg : options_.algorithms) {
    if (!supported_alg(alg)) {
      throw std::invalid_argument("JWT: unsupported algorithm '" + alg +
                                  "' (use HS256, RS256 or ES256)");
    }
  }
  if (!options_.public_key_pem.empty() && !parses_as_public_key(options_.public_key_pem)) {
    throw std::invalid_argument("JWT: the public key is not a PEM public key");
  }
}

Result<Principal> JwtVerifier::verify(std::string_view token) const {
  if (token.empty()) return invalid_token("empty token");
  if (token.size() > kMaxTokenBytes) return invalid_token("token longer than 8 KiB");

  // Exactly header.payload.signature over the base64url alphabet. This also keeps a NUL byte from
  // cutting the token short when it is handed to libjwt as a C string.
  if (std::count(token.begin(), token.end(), '.') != 2 ||
      !std::all_of(token.begin(), token.end(),
                   [](char c) { return c == '.' || base64url_value(c) >= 0; })) {
    return invalid_token("not three base64url segments");
  }

  // Pick the key from the header's alg ourselves: libjwt would happily check an HS256 token with
  // an RSA public key as the HMAC secret (alg confusion), and with no key it accepts any token
  // unverified.
  const std::optional<std::string> header_text = base64url_decode(token.substr(0, token.find('.')));
  if (!header_text) return invalid_token("header is not base64url");
  boost::system::error_code ec;
  const json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return invalid_token("header is not a JSON object");
  const json::value* alg_value = header.get_object().if_contains("alg");
  if (!alg_value || !alg_value->is_string()) return invalid_token("header has no alg");
  const std::string_view alg_name = alg_value->get_string();
  const std::optional<jwt_alg_t> alg = supported_alg(alg_name);
  if (!alg) return invalid_token("unsupported alg (none or unknown)");
  if (std::find(options_.algorithms.begin(), options_.algorithms.end(), alg_name) ==
      options_.algorithms.end()) {
    return invalid_token("alg " + std::string(alg_name) + " is not allowed");
  }
  const std::string& key =
      *alg == JWT_ALG_HS256 ? options_.hs256_secret : options_.public_key_pem;
  if (key.empty()) return invalid_token("no key configured for " + std::string(alg_name));

  // Each call decodes into its own jwt_t, so concurrent verify() calls share nothing mutable.
  const std::string token_str(token);
  jwt_t* raw = nullptr;
  const int rc = jwt_decode(&raw, token_str.c_str(), reinterpret_cast<const unsigned char*>(key.data()),
                            static_cast<int>(key.size()));
  const JwtPtr jwt(raw);
  if (rc != 0 || !jwt) {
    return invalid_token("signature or format check failed (libjwt error " + std::to_string(rc) +
                         ")");
  }
  // Belt and braces: the algorithm libjwt verified with must be the one we chose the key for.
  if (jwt_get_alg(jwt.get()) != *alg) return invalid_token("alg changed between parses");

  const CString grants(jwt_get_grants_json(jwt.get(), nullptr));
  if (!grants) return invalid_token("no claims");
  const json::value claims_value = json::parse(grants.get(), ec);
  if (ec || !claims_value.is_object()) return invalid_token("claims are not a JSON object");
  const json::object& claims = claims_value.get_object();

  // Times: exp is required, because a token that never expires cannot be taken back.
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
  const std::int64_t leeway = std::max<std::int64_t>(0, options_.leeway.count());
  const json::value* exp_value = find_claim(claims, "exp");
  if (!exp_value) return invalid_token("no exp claim");
  const std::optional<std::int64_t> exp = numeric_date(*exp_value);
  if (!exp) return invalid_token("exp is not a NumericDate (seconds from 1970 to 9999)");
  if (*exp <= now - leeway) return unauthorized("token expired", "exp is in the past");
  if (const json::value* nbf_value = find_claim(claims, "nbf")) {
    const std::optional<std::int64_t> nbf = numeric_date(*nbf_value);
    if (!nbf) return invalid_token("nbf is not a NumericDate (seconds from 1970 to 9999)");
    if (*nbf > now + leeway) return unauthorized("token not yet valid", "nbf is in the future");
  }
  if (const json::value* iat_value = find_claim(claims, "iat")) {
    const std::optional<std::int64_t> iat = numeric_date(*iat_value);
    if (!iat) return invalid_token("iat is not a NumericDate (seconds from 1970 to 9999)");
    if (*iat > now + leeway) return invalid_token("iat is in the future");
  }

  if (options_.issuer) {
    const json::value* iss = find_claim(claims, "iss");
    if (!iss || !iss->is_string() || iss->get_string() != *options_.issuer) {
      return unauthorized("invalid token issuer", "iss is missing or does not match");
    }
  }
  if (options_.audience) {
    const json::value* aud = find_claim(claims, "aud");
    if (!aud || !audience_matches(*aud, *options_.audience)) {
      return unauthorized("invalid token audience", "aud is missing or does not match");
    }
  }

  Result<Principal> principal = principal_from_claims(claims, options_);
  // Good until exp (plus the leeway); remembered at most a day whatever exp says, which also keeps
  // an absurd exp from overflowing the time point.
  const std::int64_t until = std::min(*exp, now + 86400) + std::min<std::int64_t>(leeway, 86400);
  if (principal) principal->valid_until = TimePoint(std::chrono::seconds(until));
  return principal;
}

boost::asio::awaitable<Result<Principal>> JwtVerifier::authenticate(std::string_view token) const {
  co_return verify(token);
}

Result<Principal> principal_from_claims(const json::object& claims, const JwtOptions& options) {
  Principal principal;
  for (const std::string& name : options.user_claims) {
    if (const json::value* v = find_claim(claims, name)) {
      Result<std::string> id = user_id_from(*v, name);
      if (!id) return id.error();
      principal.user_id = std::move(*id);
      break;
    }
  }
  if (principal.user_id.empty()) return invalid_token("no user id claim");
  for (const char* name : {"name", "username", "email"}) {
    const json::value* v = find_claim(claims, name);
    if (v && v->is_string() && !v->get_string().empty() && v->get_string().size() <= kMaxUserIdBytes &&
        !has_control_chars(v->get_string())) {
      principal.name = std::string(v->get_string());
      break;
    }
  }

  for (const std::string& name : options.role_claims) {
    if (const json::value* v = find_claim(claims, name)) {
      Result<std::vector<std::string>> roles = roles_from(*v, name);
      if (!roles) return roles.error();
      principal.roles = std::move(*roles);
      break;
    }
  }
  principal.is_admin =
      !options.admin_role.empty() &&
      std::find(principal.roles.begin(), principal.roles.end(), options.admin_role) !=
          principal.roles.end();
  return principal;
}

Result<std::string> issue_hs256_token(const TokenClaims& claims, std::string_view secret,
                                      TimePoint now) {
  if (secret.empty()) return make_error(errc::invalid_request, "JWT secret is empty");
  if (claims.user_id.empty()) return make_error(errc::invalid_request, "user id is empty");
  if (claims.ttl.count() <= 0) return make_error(errc::invalid_request, "ttl must be positive");

  const std::int64_t iat =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // Built with Boost.JSON and added in one go, so strings are escaped correctly.
  json::object payload;
  payload["sub"] = claims.user_id;
  payload["iat"] = iat;
  payload["exp"] = iat + claims.ttl.count();
  if (!claims.roles.empty()) {
    json::array roles;
    for (const std::string& r : claims.roles) roles.emplace_back(r);
    payload["roles"] = std::move(roles);
  }
  if (claims.issuer) payload["iss"] = *claims.issuer;
  if (claims.audience) payload["aud"] = *claims.audience;

  // With a non-empty secret and our own JSON, libjwt fails only when out of memory: one error for
  // every step (jwt_encode_str is not called after a failed one).
  jwt_t* raw = nullptr;
  const bool created = jwt_new(&raw) == 0;
  const JwtPtr jwt(raw);
  const std::string grants = json::serialize(payload);
  CString encoded;
  if (created && jwt_add_grants_json(jwt.get(), grants.c_str()) == 0 &&
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                  static_cast<int>(secret.size())) == 0)
    encoded.reset(jwt_encode_str(jwt.get()));
  if (!encoded) return make_error(errc::internal, "could not create token", "libjwt failed (out of memory)");
  return std::string(encoded.get());
}

}  // namespace aas::auth
