#pragma once

namespace aas::app {

// `ai-agent-service [serve|migrate|token|--version]`; returns the process exit code.
int main(int argc, char** argv);

}  // namespace aas::app
