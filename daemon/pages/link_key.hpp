#pragma once
// The key that signs the links in emails (server_secrets "links"), held in memory for a
// minute: a forged link is refused by its signature before the database is asked anything,
// and a key changed in the database is picked up within the minute.
#include "calendar/clock.hpp"
#include "store/database.hpp"

#include <chrono>
#include <mutex>
#include <string>

namespace convene::daemon {

class LinkKey {
 public:
  LinkKey(store::Database& database, const calendar::Clock& clock) : database_(database), clock_(clock) {}
  // Thread-safe. Reads the key when the copy is older than a minute (creating it the first
  // time any instance needs it); throws like Database::transact when it cannot.
  std::string get();

 private:
  store::Database& database_;
  const calendar::Clock& clock_;
  std::mutex mutex_;
  std::string key_;
  std::chrono::steady_clock::time_point read_at_;
};

// The shape of a signed link token ([A-Za-z0-9._-]{8,200}); anything else is refused unread.
bool plausible_token(std::string_view token);

}  // namespace convene::daemon
