#include "auth/jwt.hpp"

#include "testing/hs256.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <limits>
#include <thread>
#include <tuple>
#include <vector>

namespace aas::auth {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint t) : t_(t) {}
  TimePoint now() const override { return t_; }
  void set(TimePoint t) { t_ = t; }

 private:
  TimePoint t_;
};

constexpr std::int64_t kNow = 1'800'000'000;  // seconds since the epoch
const TimePoint kNowTp = from_unix_ms(kNow * 1000);
const std::string kSecret = "test-secret-of-reasonable-length-0123456789";

using testing::base64url;
using testing::hand_signed_hs256;

struct JwtFree {
  void operator()(jwt_t* j) const noexcept { jwt_free(j); }
};

// A token signed by libjwt itself with any of its algorithms.
std::string sign(jwt_alg_t alg, std::string_view key, const json::object& claims) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) throw std::runtime_error("jwt_new");
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (jwt_add_grants_json(jwt.get(), json::serialize(claims).c_str()) != 0) {
    throw std::runtime_error("jwt_add_grants_json");
  }
  // libjwt wants a null key for alg none, and refuses a non-null empty one.
  const auto* key_bytes =
      key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data());
  if (jwt_set_alg(jwt.get(), alg, key_bytes, static_cast<int>(key.size())) != 0) {
    throw std::runtime_error("jwt_set_alg");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (!encoded) throw std::runtime_error("jwt_encode_str");
  std::string token(encoded);
  std::free(encoded);
  return token;
}

json::object claims_with(json::object extra) {
  json::object c{{"sub", "user-1"}, {"iat", kNow}, {"exp", kNow + 600}};
  for (auto& kv : extra) c[kv.key()] = kv.value();
  return c;
}

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

KeyPair to_pem(EVP_PKEY* key) {
  if (!key) throw std::runtime_error("key generation failed");
  using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
  Bio priv(BIO_new(BIO_s_mem()), &BIO_free);
  Bio pub(BIO_new(BIO_s_mem()), &BIO_free);
  if (!priv || !pub ||
      PEM_write_bio_PrivateKey(priv.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key) != 1) {
    throw std::runtime_error("PEM export failed");
  }
  return {bio_to_string(priv.get()), bio_to_string(pub.get())};
}

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// Key generation is slow-ish (RSA), so each key is made once per test binary run.
const KeyPair& rsa_keys() {
  static const KeyPair keys = [] {
    Pkey key(EVP_RSA_gen(2048), &EVP_PKEY_free);
    return to_pem(key.get());
  }();
  return keys;
}

const KeyPair& other_rsa_keys() {
  static const KeyPair keys = [] {
    Pkey key(EVP_RSA_gen(2048), &EVP_PKEY_free);
    return to_pem(key.get());
  }();
  return keys;
}

const KeyPair& ec_keys() {
  static const KeyPair keys = [] {
    Pkey key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    return to_pem(key.get());
  }();
  return keys;
}

JwtOptions hs_options() {
  JwtOptions o;
  o.hs256_secret = kSecret;
  o.algorithms = {"HS256"};
  return o;
}

class JwtTest : public ::testing::Test {
 protected:
  FakeClock clock{kNowTp};

  Result<Principal> verify(std::string_view token, JwtOptions options = hs_options()) {
    JwtVerifier verifier(std::move(options), clock);
    return verifier.verify(token);
  }
  std::string hs(json::object extra = {}) { return sign(JWT_ALG_HS256, kSecret, claims_with(extra)); }
};

void expect_unauthorized(const Result<Principal>& r, std::string_view message = "invalid token") {
  ASSERT_FALSE(r) << "accepted as user " << r->user_id;
  EXPECT_EQ(r.error().code, errc::unauthorized);
  EXPECT_EQ(r.error().message, message) << "detail: " << r.error().detail;
  EXPECT_FALSE(r.error().detail.empty());
}

TEST_F(JwtTest, ValidHs256GivesPrincipalWithRoles) {
  const auto r = verify(hs({{"roles", json::array{"user", "editor"}}}));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->user_id, "user-1");
  EXPECT_EQ(r->roles, (std::vector<std::string>{"user", "editor"}));
  EXPECT_FALSE(r->is_admin);
}

TEST_F(JwtTest, AdminRoleMakesAdmin) {
  const auto r = verify(hs({{"roles", json::array{"user", "admin"}}}));
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_TRUE(r->is_admin);

  JwtOptions o = hs_options();
  o.admin_role = "superuser";
  const auto custom = verify(hs({{"roles", json::array{"admin"}}}), o);
  ASSERT_TRUE(custom) << custom.error().detail;
  EXPECT_FALSE(custom->is_admin);
}

TEST_F(JwtTest, RoleAsStringAndRoleClaimPrecedence) {
  const auto single = verify(hs({{"role", "admin"}}));
  ASSERT_TRUE(single) << single.error().detail;
  EXPECT_EQ(single->roles, (std::vector<std::string>{"admin"}));
  EXPECT_TRUE(single->is_admin);

  // `role` comes before `roles` in the default order.
  const auto both = verify(hs({{"role", "user"}, {"roles", json::array{"admin"}}}));
  ASSERT_TRUE(both) << both.error().detail;
  EXPECT_EQ(both->roles, (std::vector<std::string>{"user"}));
  EXPECT_FALSE(both->is_admin);

  const auto none = verify(hs());
  ASSERT_TRUE(none) << none.error().detail;
  EXPECT_TRUE(none->roles.empty());
  EXPECT_FALSE(none->is_admin);
}

TEST_F(JwtTest, MalformedRolesAreRejected) {
  expect_unauthorized(verify(hs({{"roles", json::array{"admin", 1}}})));
  expect_unauthorized(verify(hs({{"roles", json::object{{"admin", true}}}})));
  expect_unauthorized(verify(hs({{"role", true}})));
}

TEST_F(JwtTest, UserIdFromIdOrIntegerUserIdWhenSubAbsent) {
  json::object c{{"exp", kNow + 60}};
  c["id"] = "from-id";
  const auto by_id = verify(sign(JWT_ALG_HS256, kSecret, c));
  ASSERT_TRUE(by_id) << by_id.error().detail;
  EXPECT_EQ(by_id->user_id, "from-id");

  const auto by_user_id =
      verify(sign(JWT_ALG_HS256, kSecret, {{"exp", kNow + 60}, {"userId", 12345}}));
  ASSERT_TRUE(by_user_id) << by_user_id.error().detail;
  EXPECT_EQ(by_user_id->user_id, "12345");

  // A null claim counts as absent.
  const auto null_sub =
      verify(sign(JWT_ALG_HS256, kSecret, {{"exp", kNow + 60}, {"sub", nullptr}, {"id", 7}}));
  ASSERT_TRUE(null_sub) << null_sub.error().detail;
  EXPECT_EQ(null_sub->user_id, "7");
}

TEST_F(JwtTest, UserClaimPrecedenceFollowsOptions) {
  const json::object all{{"exp", kNow + 60}, {"sub", "s"}, {"id", "i"}, {"userId", 3}};
  const auto def = verify(sign(JWT_ALG_HS256, kSecret, all));
  ASSERT_TRUE(def) << def.error().detail;
  EXPECT_EQ(def->user_id, "s");

  json::object no_sub = all;
  no_sub.erase("sub");
  const auto second = verify(sign(JWT_ALG_HS256, kSecret, no_sub));
  ASSERT_TRUE(second) << second.error().detail;
  EXPECT_EQ(second->user_id, "i");

  JwtOptions o = hs_options();
  o.user_claims = {"userId", "sub"};
  const auto custom = verify(sign(JWT_ALG_HS256, kSecret, all), o);
  ASSERT_TRUE(custom) << custom.error().detail;
  EXPECT_EQ(custom->user_id, "3");
}

TEST_F(JwtTest, MissingOrInvalidUserClaimIsUnauthorized) {
  expect_unauthorized(verify(sign(JWT_ALG_HS256, kSecret, {{"exp", kNow + 60}, {"name", "x"}})));
  expect_unauthorized(verify(hs({{"sub", ""}})));
  expect_unauthorized(verify(hs({{"sub", std::string(257, 'a')}})));
  expect_unauthorized(verify(hs({{"sub", "line\nbreak"}})));
  expect_unauthorized(verify(hs({{"sub", true}})), "invalid token: claim 'sub' must be a string");
  expect_unauthorized(verify(hs({{"sub", 1.5}})), "invalid token: claim 'sub' must be a string");
  // A present but invalid `sub` does not fall through to `id`.
  expect_unauthorized(verify(hs({{"sub", json::array{"a"}}, {"id", "b"}})), "invalid token: claim 'sub' must be a string");

  const auto longest = verify(hs({{"sub", std::string(256, 'a')}}));
  ASSERT_TRUE(longest) << longest.error().detail;
}

TEST_F(JwtTest, AlgNoneIsRejected) {
  const std::string payload = json::serialize(claims_with({}));
  for (const char* header : {R"({"alg":"none"})", R"({"alg":"none","typ":"JWT"})",
                             R"({"alg":"None"})", R"({"alg":"NONE"})"}) {
    const std::string token = base64url(header) + "." + base64url(payload) + ".";
    expect_unauthorized(verify(token));
    // With an empty secret libjwt itself would accept it; we must still refuse.
    JwtOptions no_secret = hs_options();
    no_secret.hs256_secret.clear();
    expect_unauthorized(verify(token, no_secret));
  }
  // alg none whose "signature" is a real HMAC: still none.
  expect_unauthorized(verify(hand_signed_hs256(R"({"alg":"none"})", payload, kSecret)));
  // libjwt's own unsigned token.
  expect_unauthorized(verify(sign(JWT_ALG_NONE, "", claims_with({}))));
}

TEST_F(JwtTest, AlgNamesAreCaseSensitive) {
  // libjwt would accept "hs256" (it compares case-insensitively); RFC 7518 names are exact.
  const std::string payload = json::serialize(claims_with({}));
  expect_unauthorized(verify(hand_signed_hs256(R"({"alg":"hs256"})", payload, kSecret)));
  // The same hand-made token with the proper name is fine, so the check above is about the name.
  const auto ok = verify(hand_signed_hs256(R"({"alg":"HS256"})", payload, kSecret));
  ASSERT_TRUE(ok) << ok.error().detail;
}

TEST_F(JwtTest, TamperedPayloadIsRejected) {
  const std::string token = hs({{"roles", json::array{"user"}}});
  const std::size_t first = token.find('.');
  const std::size_t second = token.find('.', first + 1);
  const std::string forged_payload =
      base64url(json::serialize(claims_with({{"roles", json::array{"admin"}}})));
  const std::string forged =
      token.substr(0, first + 1) + forged_payload + token.substr(second);
  const auto r = verify(forged);
  expect_unauthorized(r);
  // Neither the token nor the secret leaks into what is shown or logged.
  EXPECT_EQ(r.error().detail.find(kSecret), std::string::npos);
  EXPECT_EQ(r.error().detail.find(forged_payload), std::string::npos);
  EXPECT_EQ(r.error().message.find(forged_payload), std::string::npos);

  // A flipped signature character too.
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  expect_unauthorized(verify(flipped));
}

TEST_F(JwtTest, WrongSecretIsRejected) {
  expect_unauthorized(verify(sign(JWT_ALG_HS256, "another-secret", claims_with({}))));
}

TEST_F(JwtTest, ExpiredIsRejectedButAcceptedWithinLeeway) {
  const std::string token = hs({{"exp", kNow - 10}});  // default leeway 30 s
  const auto within = verify(token);
  ASSERT_TRUE(within) << within.error().detail;

  clock.set(kNowTp + 20s);  // exp + 30 s == now: no longer valid
  expect_unauthorized(verify(token), "token expired");

  clock.set(kNowTp);
  JwtOptions strict = hs_options();
  strict.leeway = 0s;
  expect_unauthorized(verify(token, strict), "token expired");
  expect_unauthorized(verify(hs({{"exp", kNow}}), strict), "token expired");
  const auto one_second_left = verify(hs({{"exp", kNow + 1}}), strict);
  ASSERT_TRUE(one_second_left) << one_second_left.error().detail;
}

TEST_F(JwtTest, NotBeforeInTheFutureIsRejected) {
  expect_unauthorized(verify(hs({{"nbf", kNow + 31}})), "token not yet valid");
  const auto within = verify(hs({{"nbf", kNow + 30}}));
  ASSERT_TRUE(within) << within.error().detail;
  const auto past = verify(hs({{"nbf", kNow - 100}}));
  ASSERT_TRUE(past) << past.error().detail;
}

TEST_F(JwtTest, IssuedInTheFutureIsRejected) {
  expect_unauthorized(verify(hs({{"iat", kNow + 3600}})));
  const auto within = verify(hs({{"iat", kNow + 5}}));
  ASSERT_TRUE(within) << within.error().detail;
}

TEST_F(JwtTest, ExpIsRequiredAndMustBeANumber) {
  expect_unauthorized(verify(sign(JWT_ALG_HS256, kSecret, {{"sub", "u"}, {"iat", kNow}})));
  expect_unauthorized(verify(hs({{"exp", "2099-01-01"}})));
  expect_unauthorized(verify(hs({{"exp", nullptr}})));
  // NumericDate may be fractional.
  const auto fractional = verify(hs({{"exp", static_cast<double>(kNow) + 60.5}}));
  ASSERT_TRUE(fractional) << fractional.error().detail;
}

TEST_F(JwtTest, AbsurdNumericDatesAreRefusedNotClamped) {
  // Signed by hand: libjwt will not write some of these numbers itself.
  const auto token = [](const char* claim, const json::value& v) {
    json::object c = claims_with({});
    c[claim] = v;
    return hand_signed_hs256(R"({"alg":"HS256","typ":"JWT"})", json::serialize(c), kSecret);
  };
  for (const json::value& bad : {json::value(1e308), json::value(-1), json::value(-0.5), json::value(253402300800),
                                 json::value(std::numeric_limits<std::uint64_t>::max()),
                                 json::value(std::numeric_limits<std::int64_t>::max())}) {
    expect_unauthorized(verify(token("exp", bad)));
    expect_unauthorized(verify(token("nbf", bad)));
    expect_unauthorized(verify(token("iat", bad)));
  }
  const auto control = verify(token("nbf", kNow - 10));
  ASSERT_TRUE(control) << control.error().detail;
  const auto last = verify(hs({{"exp", 253402300799}}));
  ASSERT_TRUE(last) << last.error().detail;
  const auto epoch = verify(hs({{"nbf", 0}, {"iat", 0.0}}));
  ASSERT_TRUE(epoch) << epoch.error().detail;
}

TEST_F(JwtTest, SubMustBeAString) {
  const auto numeric = verify(hs({{"sub", 12345}}));
  ASSERT_FALSE(numeric);
  EXPECT_EQ(numeric.error().code, errc::unauthorized);
  EXPECT_EQ(numeric.error().message, "invalid token: claim 'sub' must be a string");
  expect_unauthorized(verify(hs({{"sub", json::array{"a"}}})), "invalid token: claim 'sub' must be a string");
  const auto text = verify(hs({{"sub", "12345"}}));
  ASSERT_TRUE(text) << text.error().detail;
  EXPECT_EQ(text->user_id, "12345");
}

TEST_F(JwtTest, IssuerIsCheckedWhenConfigured) {
  JwtOptions o = hs_options();
  o.issuer = "todo-app";
  const auto right = verify(hs({{"iss", "todo-app"}}), o);
  ASSERT_TRUE(right) << right.error().detail;
  expect_unauthorized(verify(hs({{"iss", "evil-app"}}), o), "invalid token issuer");
  expect_unauthorized(verify(hs(), o), "invalid token issuer");
  // Not configured: any issuer is fine.
  const auto unchecked = verify(hs({{"iss", "whatever"}}));
  ASSERT_TRUE(unchecked) << unchecked.error().detail;
}

TEST_F(JwtTest, AudienceIsCheckedAsStringOrArray) {
  JwtOptions o = hs_options();
  o.audience = "ai-agent";
  const auto as_string = verify(hs({{"aud", "ai-agent"}}), o);
  ASSERT_TRUE(as_string) << as_string.error().detail;
  const auto in_array = verify(hs({{"aud", json::array{"web", "ai-agent"}}}), o);
  ASSERT_TRUE(in_array) << in_array.error().detail;
  expect_unauthorized(verify(hs({{"aud", "web"}}), o), "invalid token audience");
  expect_unauthorized(verify(hs({{"aud", json::array{"web", "mobile"}}}), o),
                      "invalid token audience");
  expect_unauthorized(verify(hs({{"aud", json::array{}}}), o), "invalid token audience");
  expect_unauthorized(verify(hs(), o), "invalid token audience");
}

TEST_F(JwtTest, AlgorithmNotAllowedIsRejected) {
  JwtOptions rs_only;
  rs_only.hs256_secret = kSecret;  // even with a secret at hand, HS256 is not on the list
  rs_only.public_key_pem = rsa_keys().public_pem;
  rs_only.algorithms = {"RS256"};
  expect_unauthorized(verify(hs(), rs_only));

  // ES256 token while only RS256 is allowed.
  expect_unauthorized(
      verify(sign(JWT_ALG_ES256, ec_keys().private_pem, claims_with({})), rs_only));

  // Algorithms we do not support at all, even when correctly signed.
  expect_unauthorized(verify(sign(JWT_ALG_HS512, kSecret, claims_with({}))));
  expect_unauthorized(verify(sign(JWT_ALG_HS384, kSecret, claims_with({}))));
}

TEST_F(JwtTest, Rs256WithRealKeys) {
  JwtOptions o;
  o.public_key_pem = rsa_keys().public_pem;
  o.algorithms = {"RS256"};
  const auto r = verify(
      sign(JWT_ALG_RS256, rsa_keys().private_pem, claims_with({{"roles", json::array{"admin"}}})),
      o);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->user_id, "user-1");
  EXPECT_TRUE(r->is_admin);

  // Signed by someone else's key.
  expect_unauthorized(verify(sign(JWT_ALG_RS256, other_rsa_keys().private_pem, claims_with({})), o));
  // Expiry applies to RS256 like to HS256.
  expect_unauthorized(
      verify(sign(JWT_ALG_RS256, rsa_keys().private_pem, claims_with({{"exp", kNow - 3600}})), o),
      "token expired");
}

TEST_F(JwtTest, Es256WithRealKeys) {
  JwtOptions o;
  o.public_key_pem = ec_keys().public_pem;
  o.algorithms = {"ES256"};
  const auto r =
      verify(sign(JWT_ALG_ES256, ec_keys().private_pem, claims_with({{"role", "user"}})), o);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->user_id, "user-1");
  EXPECT_EQ(r->roles, (std::vector<std::string>{"user"}));

  // An RS256 token when the key is EC: libjwt refuses the key type.
  o.algorithms = {"ES256", "RS256"};
  expect_unauthorized(verify(sign(JWT_ALG_RS256, rsa_keys().private_pem, claims_with({})), o));
}

TEST_F(JwtTest, PublicKeyUsedAsHmacSecretIsRejected) {
  // The classic alg confusion: the attacker knows the public key and signs an HS256 token with
  // the PEM text as HMAC secret. libjwt alone accepts this when given the PEM as key.
  const std::string& pem = rsa_keys().public_pem;
  const std::string forged = sign(JWT_ALG_HS256, pem, claims_with({{"roles", json::array{"admin"}}}));
  {
    jwt_t* raw = nullptr;
    const int rc = jwt_decode(&raw, forged.c_str(), reinterpret_cast<const unsigned char*>(pem.data()),
                              static_cast<int>(pem.size()));
    std::unique_ptr<jwt_t, JwtFree> guard(raw);
    EXPECT_EQ(rc, 0) << "libjwt no longer falls for alg confusion; the test premise changed";
  }

  JwtOptions rs_only;
  rs_only.public_key_pem = pem;
  rs_only.algorithms = {"RS256"};
  expect_unauthorized(verify(forged, rs_only));

  // Both allowed: HS256 is checked with the HS secret only, never with the public key.
  JwtOptions both = rs_only;
  both.hs256_secret = kSecret;
  both.algorithms = {"RS256", "HS256"};
  expect_unauthorized(verify(forged, both));
  // And a header that says RS256 twice over an HMAC signature fails the RSA check.
  const std::string payload = json::serialize(claims_with({}));
  expect_unauthorized(verify(hand_signed_hs256(R"({"alg":"RS256","typ":"JWT"})", payload, pem), both));
  // Sanity: genuine tokens of both kinds pass with that configuration.
  const auto hs_ok = verify(hs(), both);
  ASSERT_TRUE(hs_ok) << hs_ok.error().detail;
  const auto rs_ok = verify(sign(JWT_ALG_RS256, rsa_keys().private_pem, claims_with({})), both);
  ASSERT_TRUE(rs_ok) << rs_ok.error().detail;
}

TEST_F(JwtTest, NoKeyConfiguredRejectsEverything) {
  // libjwt 1.10 with an empty key skips the signature check entirely; we must never get there.
  JwtOptions empty;
  empty.algorithms = {"HS256", "RS256"};
  expect_unauthorized(verify(hs(), empty));
  expect_unauthorized(verify(sign(JWT_ALG_RS256, rsa_keys().private_pem, claims_with({})), empty));
}

TEST_F(JwtTest, GarbageIsRejected) {
  const std::string good = hs();
  for (const std::string& bad : std::vector<std::string>{
           "", "abc", "a.b", "a.b.c", "..", "...", "a.b.c.d", good + ".", good + " ",
           "Bearer " + good, good + "=", " " + good, good.substr(0, good.size() - 1),
           std::string(good).insert(good.size() / 2, 1, '\0'), good + std::string(1, '\0') + "x",
           base64url("not json") + "." + base64url("{}") + ".sig",
           base64url(R"(["alg","HS256"])") + "." + base64url("{}") + ".sig",
           base64url(R"({"alg":5})") + "." + base64url("{}") + ".sig",
           base64url(R"({"typ":"JWT"})") + "." + base64url("{}") + ".sig",
           // Correctly signed, but the payload is not a JSON object.
           hand_signed_hs256(R"({"alg":"HS256"})", "[1,2]", kSecret),
           hand_signed_hs256(R"({"alg":"HS256"})", "{", kSecret)}) {
    expect_unauthorized(verify(bad));
  }
}

TEST_F(JwtTest, OversizedTokensAreRejected) {
  // Correctly signed, so only the size decides.
  const std::string big = hs({{"pad", std::string(7000, 'x')}});
  ASSERT_GT(big.size(), 8192u);
  expect_unauthorized(verify(big));

  const std::string fits = hs({{"pad", std::string(5500, 'x')}});
  ASSERT_LE(fits.size(), 8192u);
  const auto r = verify(fits);
  ASSERT_TRUE(r) << r.error().detail;

  expect_unauthorized(verify(std::string(1 << 20, 'A')));
}

TEST_F(JwtTest, ConcurrentVerifyGivesCorrectResults) {
  JwtOptions o = hs_options();
  o.public_key_pem = rsa_keys().public_pem;
  o.algorithms = {"HS256", "RS256"};
  const JwtVerifier verifier(o, clock);

  constexpr int kThreads = 8;
  constexpr int kRounds = 100;
  std::vector<std::string> valid_hs;
  std::vector<std::string> valid_rs;
  for (int t = 0; t < kThreads; ++t) {
    valid_hs.push_back(hs({{"sub", "hs-" + std::to_string(t)}}));
    valid_rs.push_back(sign(JWT_ALG_RS256, rsa_keys().private_pem,
                            claims_with({{"sub", "rs-" + std::to_string(t)}})));
  }
  const std::string forged = sign(JWT_ALG_HS256, o.public_key_pem, claims_with({}));
  const std::string expired = hs({{"exp", kNow - 3600}});

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const auto a = verifier.verify(valid_hs[t]);
        if (!a || a->user_id != "hs-" + std::to_string(t)) ++failures;
        const auto b = verifier.verify(valid_rs[t]);
        if (!b || b->user_id != "rs-" + std::to_string(t)) ++failures;
        if (verifier.verify(forged)) ++failures;
        const auto c = verifier.verify(expired);
        if (c || c.error().message != "token expired") ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(JwtVerifierConfig, RejectsUnusableOptionsAtStartup) {
  FakeClock clock{kNowTp};
  JwtOptions none = hs_options();
  none.algorithms = {"HS256", "none"};
  EXPECT_THROW(JwtVerifier(none, clock), std::invalid_argument);
  JwtOptions hs512 = hs_options();
  hs512.algorithms = {"HS512"};
  EXPECT_THROW(JwtVerifier(hs512, clock), std::invalid_argument);
  JwtOptions empty = hs_options();
  empty.algorithms.clear();
  EXPECT_THROW(JwtVerifier(empty, clock), std::invalid_argument);
  JwtOptions bad_pem;
  bad_pem.algorithms = {"RS256"};
  bad_pem.public_key_pem = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n";
  EXPECT_THROW(JwtVerifier(bad_pem, clock), std::invalid_argument);
  JwtOptions good;
  good.algorithms = {"RS256", "ES256", "HS256"};
  good.public_key_pem = rsa_keys().public_pem;
  EXPECT_NO_THROW(JwtVerifier(good, clock));
}

TEST(IssueHs256Token, RoundTripsThroughTheVerifier) {
  FakeClock clock{kNowTp};
  TokenClaims claims;
  claims.user_id = "u-\"quoted\"";
  claims.roles = {"user", "admin"};
  claims.ttl = 120s;
  claims.issuer = "todo-app";
  claims.audience = "ai-agent";
  const auto token = issue_hs256_token(claims, kSecret, kNowTp);
  ASSERT_TRUE(token) << token.error().detail;

  JwtOptions o = hs_options();
  o.issuer = "todo-app";
  o.audience = "ai-agent";
  o.leeway = 0s;
  const JwtVerifier verifier(o, clock);
  const auto p = verifier.verify(*token);
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->user_id, "u-\"quoted\"");
  EXPECT_EQ(p->roles, claims.roles);
  EXPECT_TRUE(p->is_admin);

  clock.set(kNowTp + 120s);
  const auto late = verifier.verify(*token);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().message, "token expired");
}

TEST(IssueHs256Token, WritesTheExpectedClaims) {
  TokenClaims claims;
  claims.user_id = "42";
  claims.ttl = 3600s;
  const auto token = issue_hs256_token(claims, kSecret, kNowTp);
  ASSERT_TRUE(token) << token.error().detail;

  jwt_t* raw = nullptr;
  ASSERT_EQ(jwt_decode(&raw, token->c_str(), reinterpret_cast<const unsigned char*>(kSecret.data()),
                       static_cast<int>(kSecret.size())),
            0);
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  EXPECT_EQ(jwt_get_alg(jwt.get()), JWT_ALG_HS256);
  char* grants = jwt_get_grants_json(jwt.get(), nullptr);
  ASSERT_NE(grants, nullptr);
  const json::value v = json::parse(grants);
  std::free(grants);
  EXPECT_EQ(v, (json::value(json::object{{"sub", "42"}, {"iat", kNow}, {"exp", kNow + 3600}})));
}

TEST(IssueHs256Token, RefusesBadInput) {
  TokenClaims claims;
  claims.user_id = "42";
  const auto no_secret = issue_hs256_token(claims, "", kNowTp);
  ASSERT_FALSE(no_secret);
  EXPECT_EQ(no_secret.error().code, errc::invalid_request);

  TokenClaims no_user;
  const auto r = issue_hs256_token(no_user, kSecret, kNowTp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::invalid_request);

  claims.ttl = 0s;
  const auto zero_ttl = issue_hs256_token(claims, kSecret, kNowTp);
  ASSERT_FALSE(zero_ttl);
  EXPECT_EQ(zero_ttl.error().code, errc::invalid_request);
}

}  // namespace
}  // namespace aas::auth

namespace aas::auth {
namespace {

// Every refusal says why in its detail (logged, never sent): a table of tokens and their reasons,
// so each check is shown to be the one that refused, not merely that something did.
TEST_F(JwtTest, EachRefusalNamesItsReason) {
  const auto signed_with = [](json::object claims) {
    return hand_signed_hs256(R"({"alg":"HS256","typ":"JWT"})", json::serialize(claims), kSecret);
  };
  const auto without = [](std::string_view claim) {
    json::object c = claims_with({});
    c.erase(claim);
    return c;
  };
  JwtOptions rs_too = hs_options();
  rs_too.algorithms = {"HS256", "RS256"};  // no public key configured
  const std::string payload = base64url(json::serialize(claims_with({})));
  const std::vector<std::tuple<std::string, JwtOptions, std::string>> cases{
      {"", hs_options(), "empty token"},
      {std::string(8 * 1024 + 1, 'a'), hs_options(), "token longer than 8 KiB"},
      {"a.b", hs_options(), "not three base64url segments"},
      {"a+b.c.d", hs_options(), "not three base64url segments"},
      {"a~b.c.d", hs_options(), "not three base64url segments"},
      {"abcde." + payload + ".sig", hs_options(), "header is not base64url"},
      {base64url("not json") + "." + payload + ".sig", hs_options(), "header is not a JSON object"},
      {base64url("[]") + "." + payload + ".sig", hs_options(), "header is not a JSON object"},
      {base64url(R"({"typ":"JWT"})") + "." + payload + ".sig", hs_options(), "header has no alg"},
      {base64url(R"({"alg":256})") + "." + payload + ".sig", hs_options(), "header has no alg"},
      {base64url(R"({"alg":"HS512"})") + "." + payload + ".sig", hs_options(), "unsupported alg (none or unknown)"},
      {base64url(R"({"alg":"RS256"})") + "." + payload + ".sig", hs_options(), "alg RS256 is not allowed"},
      {base64url(R"({"alg":"RS256"})") + "." + payload + ".sig", rs_too, "no key configured for RS256"},
      {base64url(R"({"alg":"HS256"})") + "." + payload + ".c2ln", hs_options(),
       "signature or format check failed (libjwt error 22)"},
      {signed_with(without("exp")), hs_options(), "no exp claim"},
      {signed_with(claims_with({{"exp", "soon"}})), hs_options(), "exp is not a NumericDate (seconds from 1970 to 9999)"},
      {signed_with(claims_with({{"exp", kNow - 31}})), hs_options(), "exp is in the past"},
      {signed_with(claims_with({{"nbf", -1.5}})), hs_options(), "nbf is not a NumericDate (seconds from 1970 to 9999)"},
      {signed_with(claims_with({{"nbf", kNow + 31}})), hs_options(), "nbf is in the future"},
      {signed_with(claims_with({{"iat", json::array{}}})), hs_options(), "iat is not a NumericDate (seconds from 1970 to 9999)"},
      {signed_with(claims_with({{"iat", kNow + 31}})), hs_options(), "iat is in the future"},
      {signed_with(without("sub")), hs_options(), "no user id claim"},
      {signed_with(claims_with({{"sub", 5}})), hs_options(), "sub is not a string"},
      {signed_with(claims_with({{"sub", nullptr}, {"id", true}})), hs_options(),
       "claim 'id' is neither a string nor an integer"},
      {signed_with(claims_with({{"sub", nullptr}, {"userId", 1.5}})), hs_options(),
       "claim 'userId' is neither a string nor an integer"},
      {signed_with(claims_with({{"sub", nullptr}, {"id", "tab\there"}})), hs_options(),
       "claim 'id' is empty, longer than 256 bytes or has control characters"},
      {signed_with(claims_with({{"sub", std::string("del\x7f")}})), hs_options(),
       "claim 'sub' is empty, longer than 256 bytes or has control characters"},
      {signed_with(claims_with({{"roles", json::array{"user", nullptr}}})), hs_options(),
       "claim 'roles' has a non-string element"},
      {signed_with(claims_with({{"role", 1}})), hs_options(), "claim 'role' is neither a string nor an array of strings"},
  };
  for (const auto& [token, options, detail] : cases) {
    const auto r = verify(token, options);
    ASSERT_FALSE(r) << detail;
    EXPECT_EQ(r.error().code, errc::unauthorized) << detail;
    EXPECT_EQ(r.error().detail, detail) << token.substr(0, 80);
  }
}

TEST_F(JwtTest, IssuerAndAudienceOfTheWrongTypeAreRefusedAndAnAudienceArrayMayHoldOthers) {
  JwtOptions o = hs_options();
  o.issuer = "todo-app";
  o.audience = "ai-agent";
  const auto with = [&](json::object extra) {
    json::object c{{"iss", "todo-app"}, {"aud", "ai-agent"}};
    for (auto& kv : extra) c[kv.key()] = kv.value();
    return verify(hs(c), o);
  };
  ASSERT_TRUE(with({}));
  expect_unauthorized(with({{"iss", 5}}), "invalid token issuer");
  expect_unauthorized(with({{"aud", 5}}), "invalid token audience");
  expect_unauthorized(with({{"aud", json::object{{"ai-agent", true}}}}), "invalid token audience");
  const auto mixed = with({{"aud", json::array{1, nullptr, "ai-agent"}}});
  ASSERT_TRUE(mixed) << mixed.error().detail;
}

TEST_F(JwtTest, UserIdsRolesAndTheDisplayNameInEveryAcceptedForm) {
  // libjwt refuses a token holding an integer beyond int64, but the main backend's user object
  // (read by the same function) may carry one.
  const auto big = principal_from_claims(json::object{{"id", std::numeric_limits<std::uint64_t>::max()}}, hs_options());
  ASSERT_TRUE(big) << big.error().detail;
  EXPECT_EQ(big->user_id, "18446744073709551615");
  const auto negative = verify(sign(JWT_ALG_HS256, kSecret, {{"exp", kNow + 60}, {"userId", -4}}));
  ASSERT_TRUE(negative) << negative.error().detail;
  EXPECT_EQ(negative->user_id, "-4");

  const auto no_role = verify(hs({{"role", ""}}));
  ASSERT_TRUE(no_role);
  EXPECT_TRUE(no_role->roles.empty()) << "an empty role string is no role";

  // The display name: the first of name, username, email that is usable text.
  const auto name_of = [&](json::object names) {
    const auto r = verify(hs(std::move(names)));
    EXPECT_TRUE(r) << r.error().detail;
    return r ? r->name : std::string("refused");
  };
  EXPECT_EQ(name_of({{"name", "Ada"}, {"username", "ada"}}), "Ada");
  EXPECT_EQ(name_of({{"name", ""}, {"username", "ada"}}), "ada");
  EXPECT_EQ(name_of({{"name", 5}, {"email", "ada@example.com"}}), "ada@example.com");
  EXPECT_EQ(name_of({{"name", std::string(257, 'a')}, {"username", "line\nbreak"}, {"email", "e@x"}}), "e@x");
  EXPECT_EQ(name_of({{"name", std::string(256, 'a')}}), std::string(256, 'a'));
  EXPECT_EQ(name_of({{"name", nullptr}}), "");

  // No admin role configured: nobody is an admin, whatever the token says.
  JwtOptions o = hs_options();
  o.admin_role = "";
  const auto no_admins = verify(hs({{"roles", json::array{"admin", ""}}}), o);
  ASSERT_TRUE(no_admins);
  EXPECT_FALSE(no_admins->is_admin);
}

TEST_F(JwtTest, AHeaderUsingTheWholeBase64UrlAlphabetIsRead) {
  // "?>" and "ÿ" in the header encode to '-' and '_', the two characters base64url adds.
  const std::string token =
      hand_signed_hs256(R"({"alg":"HS256","kid":"?>ÿÿ"})", json::serialize(claims_with({})), kSecret);
  const std::string header = token.substr(0, token.find('.'));
  ASSERT_NE(header.find('-'), std::string::npos);
  ASSERT_NE(header.find('_'), std::string::npos);
  const auto r = verify(token);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->user_id, "user-1");
}

}  // namespace
}  // namespace aas::auth
