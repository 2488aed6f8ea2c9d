#pragma once
// What the preferences page (GET/POST /preferences/{token}, DESIGN §4) shows and what a
// submitted form asks to change: plain data between the database code (preferences.cpp), the
// form reader (preferences_form.hpp) and the HTML renderer (preferences_page.hpp).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convene::daemon {

inline constexpr const char* kDeliveryModes[] = {"realtime", "daily", "weekly", "none"};

struct CommunityItem {
  std::int64_t id = 0;
  std::string slug, name;
  std::string delivery;  // the member's mode; empty for a community they may join
};

// The member as stored now.
struct PreferencesState {
  std::int64_t member_id = 0;
  std::int64_t link_version = 0;
  std::string name, email, time_zone;
  int digest_hour = 7;
  int weekly_day = 1;  // ISO: 1 = Monday
  std::vector<std::chrono::seconds> reminder_offsets;
  std::vector<CommunityItem> memberships;  // by name
  std::vector<CommunityItem> joinable;     // active communities they are not in, by name
  bool has_feed = false;                   // a live feed token exists (only its hash is kept)
};

// The differences a valid form asks for; empty when it changes nothing.
struct PreferencesEdit {
  std::optional<std::string> time_zone;
  std::optional<int> digest_hour;
  std::optional<int> weekly_day;
  std::optional<std::vector<std::chrono::seconds>> reminder_offsets;
  struct Delivery {
    std::int64_t community_id = 0;
    std::string delivery;
  };
  std::vector<Delivery> deliveries;  // changed modes of current memberships
  std::vector<std::int64_t> leave;   // community ids
  std::vector<std::int64_t> join;    // community ids, joined with join_delivery
  std::string join_delivery = "realtime";

  bool empty() const {
    return !time_zone && !digest_hour && !weekly_day && !reminder_offsets && deliveries.empty() && leave.empty() &&
           join.empty();
  }
};

}  // namespace convene::daemon
