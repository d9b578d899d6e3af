#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <set>

namespace aas {

TEST(Ids, UuidV7HasVersionAndVariantBits) {
  const std::string id = new_uuid_v7();
  ASSERT_TRUE(is_uuid(id)) << id;
  EXPECT_EQ(id[14], '7');
  EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;
}

TEST(Ids, IdsIssuedInOrderSortInOrder) {
  std::string prev = new_uuid_v7();
  std::set<std::string> seen{prev};
  for (int i = 0; i < 10000; ++i) {
    std::string next = new_uuid_v7();
    EXPECT_LT(prev, next);
    EXPECT_TRUE(seen.insert(next).second);
    prev = next;
  }
}

TEST(Ids, TimestampPrefixEncodesMilliseconds) {
  using namespace std::chrono;
  const auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::string id = new_uuid_v7();
  const auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const long long ms = std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16);
  EXPECT_GE(ms, before);
  EXPECT_LE(ms, after + 1);  // the in-process counter may carry into the next millisecond
}

TEST(Ids, RejectsMalformed) {
  EXPECT_FALSE(is_uuid(""));
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  EXPECT_FALSE(is_uuid("0123456789ab-7000-8000-000000000000x"));
  EXPECT_FALSE(is_uuid("01234567-89ab-7cde-8f01-23456789abcg"));
  EXPECT_TRUE(is_uuid("01234567-89AB-7CDE-8F01-23456789ABCD"));
}

}  // namespace aas
