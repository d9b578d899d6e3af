#pragma once
// The signature of a webhook delivery, as Stripe signs its events: the header
//   X-AAS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// The timestamp is inside the signed text, so a receiver that checks it is recent (say, within
// five minutes) refuses replays; the body is signed byte for byte as sent.
#include <cstdint>
#include <string>
#include <string_view>

namespace aas::webhooks {

inline constexpr std::string_view kSignatureHeader = "x-aas-signature";

std::string signature_header(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

}  // namespace aas::webhooks
