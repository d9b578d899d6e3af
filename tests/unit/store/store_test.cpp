#include "store/store.hpp"

#include <gtest/gtest.h>

namespace aas::store {

TEST(StoreEnums, RolesRoundTripThroughText) {
  for (Role r : {Role::system, Role::user, Role::assistant, Role::tool}) {
    auto back = role_from_string(to_string(r));
    ASSERT_TRUE(back) << to_string(r);
    EXPECT_EQ(*back, r);
  }
  EXPECT_EQ(to_string(Role::assistant), "assistant");
  EXPECT_FALSE(role_from_string("Assistant"));
  EXPECT_FALSE(role_from_string("function"));
  EXPECT_FALSE(role_from_string(""));
}

TEST(StoreEnums, StatusesRoundTripThroughText) {
  for (MessageStatus s :
       {MessageStatus::complete, MessageStatus::interrupted, MessageStatus::error}) {
    auto back = message_status_from_string(to_string(s));
    ASSERT_TRUE(back) << to_string(s);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(to_string(MessageStatus::interrupted), "interrupted");
  EXPECT_FALSE(message_status_from_string("done"));
  EXPECT_FALSE(message_status_from_string(""));
}

}  // namespace aas::store
