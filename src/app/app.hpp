#pragma once
#include "app/config.hpp"

namespace aas::app {

// Runs the service until SIGTERM/SIGINT, then drains; returns the process exit code.
int serve(Config config);
// Applies pending migrations and prints the schema version.
int migrate(const Config& config);

}  // namespace aas::app
