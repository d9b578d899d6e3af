#pragma once
#include <string>
#include <vector>
#include "app/config.hpp"

namespace aas::app {

// Runs the service until SIGTERM/SIGINT, then drains; returns the process exit code.
int serve(Config config);
// Applies pending migrations and prints the schema version.
int migrate(const Config& config);
// `ingest --user U --kb NAME PATH...`: adds the files (directories: every file under them) to the
// user's knowledge base NAME (created when missing) and runs their ingestion here, showing the
// progress (a bar on a terminal, a line per document otherwise). Exit 0 when every document was
// indexed, 1 otherwise.
int ingest(const Config& config, const std::string& user, const std::string& kb_name,
           const std::vector<std::string>& paths);

}  // namespace aas::app
