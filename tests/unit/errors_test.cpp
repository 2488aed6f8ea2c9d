#include "store/errors.hpp"

#include <pqxx/except>

#include <gtest/gtest.h>

using namespace convene::store;

namespace {
template <class E, class... Args>
FailureKind kind_of(Args&&... args) {
  return classify(std::make_exception_ptr(E(std::forward<Args>(args)...)));
}
}  // namespace

TEST(FailureClassification, ConnectionFailuresAreRetryable) {
  EXPECT_EQ(kind_of<pqxx::broken_connection>("server closed the connection"), FailureKind::connection);
  EXPECT_EQ(kind_of<pqxx::sql_error>("terminating connection due to administrator command", "SELECT 1", "57P01"),
            FailureKind::connection);
  EXPECT_EQ(kind_of<pqxx::sql_error>("the database system is starting up", "", "57P03"), FailureKind::connection);
  EXPECT_EQ(kind_of<pqxx::sql_error>("connection failure", "", "08006"), FailureKind::connection);
  EXPECT_TRUE(is_retryable(FailureKind::connection));
}

TEST(FailureClassification, SerializationFailuresAndDeadlocksAreReplayed) {
  EXPECT_EQ(kind_of<pqxx::serialization_failure>("could not serialize access"), FailureKind::serialization);
  EXPECT_EQ(kind_of<pqxx::deadlock_detected>("deadlock detected"), FailureKind::serialization);
  EXPECT_TRUE(is_retryable(FailureKind::serialization));
}

TEST(FailureClassification, InDoubtCommitsAreNeverReplayedBlindly) {
  EXPECT_EQ(kind_of<pqxx::in_doubt_error>("connection lost during commit"), FailureKind::in_doubt);
  EXPECT_EQ(kind_of<pqxx::statement_completion_unknown>("unknown"), FailureKind::in_doubt);
  EXPECT_FALSE(is_retryable(FailureKind::in_doubt));
}

TEST(FailureClassification, EverythingElseIsPermanent) {
  EXPECT_EQ(kind_of<pqxx::unique_violation>("duplicate key", "INSERT", "23505"), FailureKind::permanent);
  EXPECT_EQ(kind_of<pqxx::syntax_error>("syntax error", "SELEC", "42601"), FailureKind::permanent);
  EXPECT_EQ(kind_of<std::runtime_error>("bug"), FailureKind::permanent);
  EXPECT_FALSE(is_retryable(FailureKind::permanent));
}
