#include "base/log.hpp"

#include <gtest/gtest.h>

using namespace convene::log;

TEST(LogFormat, TextIsLogfmtWithQuotingWhereNeeded) {
  EXPECT_EQ(format_record(Format::text, "http listening", {{"listen", "127.0.0.1:8080"}, {"threads", 8}}),
            R"(msg="http listening" listen=127.0.0.1:8080 threads=8)");
  EXPECT_EQ(format_record(Format::text, "x", {{"error", "a b"}, {"empty", ""}, {"ok", true}}),
            R"(msg="x" error="a b" empty="" ok=true)");
}

TEST(LogFormat, UserDataCannotForgeALine) {
  const std::string line = format_record(Format::text, "m", {{"path", "/x\nlevel=error msg=\"forged\""}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line, R"(msg="m" path="/x\nlevel=error msg=\"forged\"")");
}

TEST(LogFormat, JsonEscapesEveryControlCharacter) {
  EXPECT_EQ(format_record(Format::json, "say \"hi\"", {{"n", 3}, {"s", std::string("a\x01\tb\\")}}),
            R"("msg":"say \"hi\"","n":3,"s":"a\u0001\tb\\")");
}

TEST(LogLevels, ParseTheNamesOperatorsUse) {
  EXPECT_EQ(parse_level("debug"), Level::debug);
  EXPECT_EQ(parse_level("warning"), Level::warn);
  EXPECT_FALSE(parse_level("loud"));
  EXPECT_EQ(parse_format("json"), Format::json);
  EXPECT_FALSE(parse_format("xml"));
}

TEST(LogLevels, ConfigureChangesWhatIsEnabled) {
  configure(Level::warn, Format::text);
  EXPECT_FALSE(enabled(Level::info));
  EXPECT_TRUE(enabled(Level::error));
  configure(Level::debug, Format::text);
  EXPECT_TRUE(enabled(Level::debug));
  EXPECT_FALSE(enabled(Level::trace));
  configure(Level::info, Format::text);
}
