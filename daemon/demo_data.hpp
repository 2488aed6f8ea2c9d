#pragma once
// A small, realistic data set for trying Convene locally (`convened demo-data`, run by
// scripts/run): communities, rooms, leaders, members with mixed zones and delivery modes,
// meetings, a special event, topics and annual meetings. It is made through the v1 API, so
// validation, room bookings, annual placeholders and outbox events are those of real use.
#include "calendar/clock.hpp"
#include "daemon/config.hpp"
#include "store/database.hpp"

#include <string>
#include <vector>

namespace convene::daemon {

struct DemoDataOutcome {
  bool loaded = false;              // false: skipped because the database already has communities
  std::vector<std::string> report;  // lines for a person: what was made, tokens to try the API with
};

// Loads the data set when the communities table is empty; otherwise changes nothing. Times are
// relative to `clock` (meetings in the coming weeks). Throws std::runtime_error naming the step
// that failed; the steps before it stay (each API call is its own transaction).
DemoDataOutcome load_demo_data(store::Database& database, const Config& config, const calendar::Clock& clock);

}  // namespace convene::daemon
