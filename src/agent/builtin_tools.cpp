#include "agent/builtin_tools.hpp"

#include <boost/json/serialize.hpp>

#include <chrono>

namespace aas::agent {

CurrentTimeTool::CurrentTimeTool(const Clock& clock) : clock_(clock) {
  definition_.name = "current_time";
  definition_.description = "The current date and time (ISO 8601), with the weekday and the time zone.";
  definition_.parameters = R"({"type":"object","properties":{}})";
}

boost::asio::awaitable<ToolOutput> CurrentTimeTool::call(const boost::json::object&, const ToolContext&) {
  const TimePoint now = clock_.now();
  static constexpr const char* kDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
  const std::chrono::weekday day{std::chrono::floor<std::chrono::days>(now)};
  boost::json::object out{{"now", format_rfc3339(now)}, {"weekday", kDays[day.c_encoding()]}, {"timeZone", "UTC"}};
  co_return ToolOutput{boost::json::serialize(out), false};
}

}  // namespace aas::agent
