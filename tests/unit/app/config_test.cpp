#include "app/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace aas::app {

namespace {
Lookup from(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::filesystem::path temp_dir() {
  char tmpl[] = "/tmp/aas-config-XXXXXX";
  return std::filesystem::path(mkdtemp(tmpl));
}
}  // namespace

TEST(Config, DefaultsAreTheEmbeddedOnes) {
  const Config c = load_config(from({}));
  EXPECT_EQ(c.port, 4002);
  EXPECT_EQ(c.sqlite_path, "./data/ai-agent.db");
  EXPECT_EQ(c.default_model, "mock");
  EXPECT_EQ(c.jwt_algorithms, std::vector<std::string>{"HS256"});
  EXPECT_EQ(c.max_body_bytes, 1024u * 1024u);
}

TEST(Config, ReadsTheEnvironment) {
  const Config c = load_config(from({{"PORT", "0"},
                                     {"DATABASE_URL", "sqlite:/tmp/x/ai.db"},
                                     {"CORS_ORIGINS", "http://a.test, http://b.test"},
                                     {"JWT_SECRET", "0123456789abcdef0123"},
                                     {"MAX_MESSAGE_CHARS", "100"}}));
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.sqlite_path, "/tmp/x/ai.db");
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"http://a.test", "http://b.test"}));
  EXPECT_EQ(c.max_message_chars, 100u);
}

TEST(Config, BadValuesFailNamingTheKey) {
  const auto message_of = [](std::map<std::string, std::string> vars) {
    try {
      load_config(from(std::move(vars)));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message_of({{"PORT", "99999"}}).find("PORT"), std::string::npos);
  EXPECT_NE(message_of({{"PORT", "abc"}}).find("PORT"), std::string::npos);
  EXPECT_NE(message_of({{"LOG_LEVEL", "loud"}}).find("LOG_LEVEL"), std::string::npos);
  EXPECT_NE(message_of({{"JWT_SECRET", "short"}}).find("JWT_SECRET"), std::string::npos);
  EXPECT_NE(message_of({{"JWT_ALGORITHMS", "none"}}).find("JWT_ALGORITHMS"), std::string::npos);
  EXPECT_NE(message_of({{"JWT_ALGORITHMS", "RS256"}}).find("JWT_PUBLIC_KEY"), std::string::npos);
  EXPECT_NE(message_of({{"DATABASE_URL", "postgresql://u@h/db"}}).find("DATABASE_URL"), std::string::npos);
}

TEST(Config, YamlFileIsReadAndTheEnvironmentWins) {
  const auto dir = temp_dir();
  const auto file = dir / "ai.yaml";
  std::ofstream(file) << "port: 5000\nlog_level: debug\ncors_origins:\n  - http://x.test\n  - http://y.test\n";
  const Config c = load_config(from({{"AI_CONFIG", file.string()}, {"PORT", "6000"}}));
  EXPECT_EQ(c.port, 6000);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.cors_origins, (std::vector<std::string>{"http://x.test", "http://y.test"}));
  std::filesystem::remove_all(dir);
}

TEST(Config, DevelopmentSecretIsCreatedOnceAndReused) {
  const auto dir = temp_dir();
  Config a = load_config(from({{"DATABASE_URL", "sqlite:" + (dir / "db" / "ai.db").string()}}));
  ensure_jwt_secret(a);
  EXPECT_TRUE(a.jwt_secret_generated);
  EXPECT_EQ(a.jwt_secret.size(), 64u);
  EXPECT_EQ(std::filesystem::status(dir / "db" / "dev-jwt-secret").permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  Config b = load_config(from({{"DATABASE_URL", "sqlite:" + (dir / "db" / "ai.db").string()}}));
  ensure_jwt_secret(b);
  EXPECT_EQ(a.jwt_secret, b.jwt_secret);
  std::filesystem::remove_all(dir);
}

}  // namespace aas::app
