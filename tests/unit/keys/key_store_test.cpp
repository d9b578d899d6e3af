// The key store port, run on both adapters: SQLite (a temp file, migrated by the main store) and a
// real PostgreSQL (a database of its own on the server of scripts/with-postgres.sh).
#include "keys/key_service.hpp"
#include "keys/sql_key_store.hpp"

#include "testing/fake_clock.hpp"
#include "testing/migrated_database.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>

namespace aas::keys {
namespace {

using testing::FakeClock;

class KeyStoreTest : public ::testing::TestWithParam<testing::MigratedDatabase> {
 protected:
  void SetUp() override {
    where_ = GetParam().open(clock_, keep_);
    keys_ = GetParam().name == "sqlite" ? open_sqlite_key_store(where_, clock_) : open_postgres_key_store(where_, clock_);
  }
  void TearDown() override {
    keys_.reset();
    keep_.reset();
  }
  ServiceKey make(const std::string& name, const Secret& s, std::vector<std::string> models = {}, bool act = false) {
    auto k = keys_->create(NewServiceKey{name, std::move(models), act}, s.prefix, s.hash);
    EXPECT_TRUE(k) << (k ? "" : k.error().detail);
    return k ? *k : ServiceKey{};
  }

  FakeClock clock_;
  std::shared_ptr<void> keep_;
  std::string where_;
  std::unique_ptr<KeyStore> keys_;
};

TEST_P(KeyStoreTest, CreatedKeyIsFoundByItsHashAndReadBack) {
  const Secret s = new_secret();
  const ServiceKey k = make("backend", s, {"mock", "gpt-4o"}, true);
  EXPECT_EQ(k.name, "backend");
  EXPECT_EQ(k.prefix, s.prefix);
  EXPECT_EQ(k.allowed_models, (std::vector<std::string>{"mock", "gpt-4o"}));
  EXPECT_TRUE(k.may_act_for_users);
  EXPECT_EQ(k.created_at, clock_.now());
  EXPECT_FALSE(k.revoked_at);

  auto found = keys_->find_active(hash_key(s.key));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, k.id);
  auto got = keys_->get(k.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->allowed_models, k.allowed_models);
  EXPECT_EQ(keys_->find_active(hash_key(s.key + "x")).error().code, errc::not_found);
  EXPECT_EQ(keys_->get("01900000-0000-7000-8000-000000000000").error().code, errc::not_found);
}

TEST_P(KeyStoreTest, RotateReplacesTheHashAndRevokeEndsTheKey) {
  const Secret first = new_secret();
  const ServiceKey k = make("svc", first);
  clock_.advance(std::chrono::seconds(5));
  const Secret second = new_secret();
  auto rotated = keys_->rotate(k.id, second.prefix, second.hash);
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->prefix, second.prefix);
  EXPECT_EQ(rotated->rotated_at, clock_.now());
  EXPECT_EQ(keys_->find_active(first.hash).error().code, errc::not_found) << "the old key is refused";
  EXPECT_TRUE(keys_->find_active(second.hash));

  auto revoked = keys_->revoke(k.id);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->revoked_at, clock_.now());
  EXPECT_EQ(keys_->find_active(second.hash).error().code, errc::not_found);
  EXPECT_EQ(keys_->revoke(k.id).error().code, errc::not_found) << "revoked once";
  const Secret third = new_secret();
  EXPECT_EQ(keys_->rotate(k.id, third.prefix, third.hash).error().code, errc::not_found) << "a revoked key stays revoked";
  EXPECT_TRUE(keys_->get(k.id)) << "kept for the record";
}

TEST_P(KeyStoreTest, ListPagesOldestFirstAndRefusesForeignCursors) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(make("k" + std::to_string(i), new_secret()).id);
    clock_.advance(std::chrono::milliseconds(2));
  }
  std::vector<std::string> seen;
  domain::PageRequest page{2, std::nullopt};
  for (int guard = 0; guard < 10; ++guard) {
    auto p = keys_->list(page);
    ASSERT_TRUE(p);
    for (const auto& k : p->items) seen.push_back(k.id);
    if (!p->next_cursor) break;
    page.cursor = p->next_cursor;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(keys_->list({2, std::string("not-a-cursor")}).error().code, errc::invalid_request);
}

TEST_P(KeyStoreTest, TheKeyItselfIsNeverStored) {
  const Secret s = new_secret();
  const ServiceKey k = make("secretive", s);
  auto all = keys_->list({50, std::nullopt});
  ASSERT_TRUE(all);
  for (const ServiceKey& listed : all->items) {
    EXPECT_EQ(listed.prefix.size(), kKeyPrefix.size() + 8);
    EXPECT_EQ(s.key.find(listed.prefix), 0u);
  }
  EXPECT_NE(s.key, s.hash);
  if (GetParam().name == "sqlite") {
    // The whole file (and its WAL), byte for byte: the random part of the key appears nowhere.
    const std::string& path = where_;
    std::string bytes;
    for (const std::string& f : {path, path + "-wal"}) {
      std::ifstream in(f, std::ios::binary);
      bytes.append(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_FALSE(bytes.empty());
    EXPECT_NE(bytes.find(s.hash), std::string::npos) << "the hash is there";
    EXPECT_EQ(bytes.find(s.key.substr(kKeyPrefix.size() + 8)), std::string::npos) << "the secret is not";
  }
  (void)k;
}

INSTANTIATE_TEST_SUITE_P(Adapters, KeyStoreTest, ::testing::ValuesIn(testing::migrated_databases()),
                         [](const auto& info) { return info.param.name; });

TEST(KeyStorePostgres, ServerIsGivenToTheTests) { testing::expect_postgres_server("the key store"); }

TEST(Secrets, AreRandomPrefixedAndHashedWithSha256) {
  const Secret a = new_secret(), b = new_secret();
  EXPECT_NE(a.key, b.key);
  EXPECT_EQ(a.key.size(), kKeyPrefix.size() + 64);
  EXPECT_TRUE(a.key.starts_with(kKeyPrefix));
  EXPECT_EQ(a.hash, hash_key(a.key));
  EXPECT_EQ(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace aas::keys
