#pragma once
// What a database failure means for the caller: retry with a fresh connection, retry the
// transaction, or give up. Shared by the transaction helper and anything holding a session.
#include <exception>

namespace convene::store {

enum class FailureKind {
  connection,     // the connection broke or could not be made (PostgreSQL down or restarting)
  serialization,  // serialization failure or deadlock: the whole transaction may be replayed
  in_doubt,       // the connection broke during COMMIT: it may or may not have committed
  permanent,      // anything else (a constraint, a syntax error, a bug)
};

FailureKind classify(const std::exception_ptr& error) noexcept;
bool is_retryable(FailureKind kind) noexcept;

}  // namespace convene::store
