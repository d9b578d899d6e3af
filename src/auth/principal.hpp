#pragma once
#include "core/clock.hpp"

#include <optional>
#include <string>
#include <vector>

namespace aas::auth {

// Who is calling, as established by a verified token. The user id never comes from a request
// body, a query or a header other than the verified token.
struct Principal {
  std::string user_id;
  std::string name;  // for display ({{user.name}} in prompts): the first of name, username, email; may be empty
  std::vector<std::string> roles;
  bool is_admin = false;
  // A verified JWT's principal: until when the token is good (its exp plus the leeway). Lets the
  // token be remembered rather than verified on every request (VerifiedTokenCache).
  std::optional<TimePoint> valid_until;
  // A service key's principal (src/keys): the key's id, and whether it may name the user it acts
  // for in X-On-Behalf-Of (then user_id becomes that user's, and key_id stays).
  std::string key_id;
  bool may_act_for_users = false;
};

}  // namespace aas::auth
