#include "app/cli.hpp"

int main(int argc, char** argv) { return aas::app::main(argc, argv); }
