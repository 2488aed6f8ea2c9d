#pragma once
// A feed as an independent calendar client expands it (tests/unit/ics_instants.py:
// python3-icalendar, dateutil, the system's zoneinfo), for tests that compare its instants with
// the daemon's. Header-only: unit and API tests both use it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "calendar/clock.hpp"

namespace convene::testing {

// One line per occurrence starting in [from, to): "UID RECURRENCE-ID START END" (see the
// script). `fold` 0 reads a local time in a gap or a repeat as RFC 5545 does, 1 as
// Thunderbird's ical.js does.
inline std::vector<std::string> ics_client_instants(const std::string& text, int fold, calendar::Instant from,
                                                    calendar::Instant to) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("convene-ics-client-" + std::to_string(::getpid()) + "-" + std::to_string(fold));
  std::filesystem::create_directories(dir);
  const std::filesystem::path file = dir / "feed.ics", output = dir / "instants.txt";
  {
    std::ofstream out(file, std::ios::binary);
    out << text;
  }
  const std::string command = "/usr/bin/python3 '" + std::string(CONVENE_SOURCE_DIR) + "/tests/unit/ics_instants.py' '" +
                              file.string() + "' " + std::to_string(fold) + " " + calendar::format_rfc3339_utc(from) +
                              " " + calendar::format_rfc3339_utc(to) + " > '" + output.string() + "'";
  const int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  std::vector<std::string> lines;
  std::ifstream in(output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::filesystem::remove_all(dir);
  return lines;
}

}  // namespace convene::testing
