#include "store/conninfo.hpp"

#include <gtest/gtest.h>

using namespace convene::store;
using namespace std::chrono_literals;

TEST(Conninfo, AddsTimeoutAndApplicationNameToUris) {
  EXPECT_EQ(with_session_defaults("postgresql://u@h/db", 5s, "convened"),
            "postgresql://u@h/db?connect_timeout=5&application_name=convened");
  EXPECT_EQ(with_session_defaults("postgresql:///convene?host=/run/postgresql", 5s, "convened"),
            "postgresql:///convene?host=/run/postgresql&connect_timeout=5&application_name=convened");
}

TEST(Conninfo, AddsToKeywordForm) {
  EXPECT_EQ(with_session_defaults("host=/tmp dbname=x", 3s, "c"), "host=/tmp dbname=x connect_timeout=3 application_name=c");
}

TEST(Conninfo, KeepsWhatTheOperatorSet) {
  EXPECT_EQ(with_session_defaults("postgresql://h/db?connect_timeout=30&application_name=mine", 5s, "convened"),
            "postgresql://h/db?connect_timeout=30&application_name=mine");
  EXPECT_EQ(with_session_defaults("dbname=x connect_timeout = 9", 5s, "a"), "dbname=x connect_timeout = 9 application_name=a");
}

TEST(Conninfo, NeverSendsAZeroTimeout) {
  // libpq reads 0 as "wait forever".
  EXPECT_EQ(with_session_defaults("dbname=x", 0s, "a"), "dbname=x connect_timeout=2 application_name=a");
}

TEST(Conninfo, RedactsPasswords) {
  EXPECT_EQ(redact_conninfo("postgresql://convene:s3cret@127.0.0.1:5432/convene"),
            "postgresql://convene:***@127.0.0.1:5432/convene");
  EXPECT_EQ(redact_conninfo("postgres://u:p%40ss@h/db?sslmode=require"), "postgres://u:***@h/db?sslmode=require");
  EXPECT_EQ(redact_conninfo("postgresql://h/db?user=u&password=s3cret&sslmode=require"),
            "postgresql://h/db?user=u&password=***&sslmode=require");
  EXPECT_EQ(redact_conninfo("host=h password='a b\\'c' dbname=x"), "host=h password=*** dbname=x");
  EXPECT_EQ(redact_conninfo("host=h password=plain dbname=x"), "host=h password=*** dbname=x");
  EXPECT_EQ(redact_conninfo("postgresql://u@h/db"), "postgresql://u@h/db");
}
