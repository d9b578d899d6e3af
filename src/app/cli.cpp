#include "app/cli.hpp"

#include "app/app.hpp"
#include "app/config.hpp"
#include "auth/jwt.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace aas::app {

namespace {

// "90", "90s", "30m", "1h", "7d" -> seconds.
std::optional<std::chrono::seconds> parse_ttl(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &used);
  } catch (...) {
    return std::nullopt;
  }
  if (n <= 0) return std::nullopt;
  const std::string unit = s.substr(used);
  if (unit.empty() || unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::seconds(n * 60);
  if (unit == "h") return std::chrono::seconds(n * 3600);
  if (unit == "d") return std::chrono::seconds(n * 86400);
  return std::nullopt;
}

int print_token(Config c, const std::string& user, bool admin, std::vector<std::string> roles,
                const std::string& ttl_text) {
  const auto ttl = parse_ttl(ttl_text);
  if (!ttl) {
    std::cerr << "--ttl: expected a duration such as 3600, 30m, 1h or 7d\n";
    return 2;
  }
  ensure_jwt_secret(c);
  // The development secret is found relative to the working directory (./data, or beside
  // SQLITE_PATH): said on stderr, so that a token signed with another directory's secret (and
  // refused with 401 by a service started elsewhere) is not a mystery.
  if (c.jwt_secret_created)
    std::cerr << "JWT_SECRET not set: created a new development secret at " << c.jwt_secret_file
              << "; a service started from another directory will refuse this token (run `token` where "
                 "`serve` runs, or set JWT_SECRET or SQLITE_PATH alike for both)\n";
  else if (c.jwt_secret_generated)
    std::cerr << "signed with the development secret at " << c.jwt_secret_file << "\n";
  if (admin) roles.push_back(c.admin_role);
  auth::TokenClaims claims{user, roles, *ttl, c.jwt_issuer, c.jwt_audience};
  auto token = auth::issue_hs256_token(claims, c.jwt_secret, std::chrono::system_clock::now());
  if (!token) {
    std::cerr << token.error().message << "\n";
    return 1;
  }
  std::cout << *token << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"ai-agent-service: AI chat, knowledge and accounting beside your web app"};
  cli.set_version_flag("--version", std::string("ai-agent-service ") + AAS_VERSION);
  cli.require_subcommand(0, 1);

  cli.add_subcommand("serve", "Run the HTTP service (the default)");
  cli.add_subcommand("migrate", "Apply pending database migrations and exit");
  auto* token = cli.add_subcommand("token", "Print a signed HS256 token for local use (JWT_SECRET)");
  std::string user, ttl = "1h";
  bool admin = false;
  std::vector<std::string> roles;
  token->add_option("--user", user, "User id (the `sub` claim)")->required();
  token->add_flag("--admin", admin, "Add the admin role");
  token->add_option("--role", roles, "Add a role (repeatable)");
  token->add_option("--ttl", ttl, "Lifetime: seconds or 30m, 1h, 7d")->capture_default_str();

  auto* ingest_cmd = cli.add_subcommand("ingest", "Add files to a knowledge base and ingest them now");
  std::string ingest_user, ingest_kb;
  std::vector<std::string> ingest_paths;
  ingest_cmd->add_option("--user", ingest_user, "The owner's user id")->required();
  ingest_cmd->add_option("--kb", ingest_kb, "The knowledge base's name (created when missing)")->required();
  ingest_cmd->add_option("paths", ingest_paths, "Files or directories")->required();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }

  try {
    Config config = load_config(environment());
    if (cli.got_subcommand("migrate")) return migrate(config);
    if (cli.got_subcommand("token")) return print_token(config, user, admin, roles, ttl);
    if (cli.got_subcommand("ingest")) return ingest(config, ingest_user, ingest_kb, ingest_paths);
    return serve(std::move(config));
  } catch (const ConfigError& e) {
    std::cerr << "configuration error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "fatal: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace aas::app
