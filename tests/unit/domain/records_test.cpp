#include "domain/records.hpp"

#include <gtest/gtest.h>

namespace aas::domain {

// These words are stored in the messages table and sent in every message's JSON: each must read
// back as what was written, and a word that is not one of them must be refused, not guessed.
TEST(Records, RolesReadBackAsWrittenAndUnknownWordsAreRefused) {
  for (Role r : {Role::system, Role::user, Role::assistant, Role::tool}) {
    EXPECT_EQ(role_from_string(to_string(r)), r) << to_string(r);
  }
  EXPECT_EQ(to_string(Role::assistant), "assistant");
  EXPECT_EQ(to_string(Role::tool), "tool");
  for (std::string_view bad : {"", "User", "bot", "function", "assistant "}) {
    EXPECT_EQ(role_from_string(bad), std::nullopt) << "'" << bad << "'";
  }
}

TEST(Records, StatusesReadBackAsWrittenAndUnknownWordsAreRefused) {
  for (MessageStatus s : {MessageStatus::complete, MessageStatus::streaming,
                          MessageStatus::interrupted, MessageStatus::error}) {
    EXPECT_EQ(message_status_from_string(to_string(s)), s) << to_string(s);
  }
  EXPECT_EQ(to_string(MessageStatus::interrupted), "interrupted");
  for (std::string_view bad : {"", "Complete", "done", "failed", "stream"}) {
    EXPECT_EQ(message_status_from_string(bad), std::nullopt) << "'" << bad << "'";
  }
}

}  // namespace aas::domain
