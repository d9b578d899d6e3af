#include "core/json_numbers.hpp"

#include <boost/json/value.hpp>

#include <cmath>

namespace aas {

bool has_non_finite_number(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      return !std::isfinite(v.get_double());
    case boost::json::kind::array:
      for (const auto& e : v.get_array())
        if (has_non_finite_number(e)) return true;
      return false;
    case boost::json::kind::object:
      for (const auto& field : v.get_object())
        if (has_non_finite_number(field.value())) return true;
      return false;
    default:
      return false;
  }
}

}  // namespace aas
