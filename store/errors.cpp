#include "store/errors.hpp"

#include <pqxx/except>

#include <string>

namespace convene::store {

FailureKind classify(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::in_doubt_error&) {
    return FailureKind::in_doubt;
  } catch (const pqxx::broken_connection&) {
    return FailureKind::connection;
  } catch (const pqxx::serialization_failure&) {
    return FailureKind::serialization;
  } catch (const pqxx::deadlock_detected&) {
    return FailureKind::serialization;
  } catch (const pqxx::statement_completion_unknown&) {
    return FailureKind::in_doubt;  // nothing says the statement did not run
  } catch (const pqxx::transaction_rollback&) {
    return FailureKind::permanent;
  } catch (const pqxx::sql_error& e) {
    const std::string state = e.sqlstate();
    // Class 08: connection exceptions; 57P01-03: the server is shutting down or starting.
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03")
      return FailureKind::connection;
    if (state == "40001" || state == "40P01") return FailureKind::serialization;
    return FailureKind::permanent;
  } catch (...) {
    return FailureKind::permanent;
  }
}

bool is_retryable(FailureKind kind) noexcept {
  return kind == FailureKind::connection || kind == FailureKind::serialization;
}

}  // namespace convene::store
