#include "notifiers/audience.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace convene::notifiers;

TEST(Audience, CommunityNewsGoesToTheCommunitysMembers) {
  for (const char* kind : {"community.updated", "community.split", "community.merged", "meeting.scheduled",
                           "meeting.updated", "meeting.cancelled", "annual_meeting.scheduled", "topic.posted"})
    EXPECT_EQ(audience_of(kind), Audience::community_members) << kind;
}

TEST(Audience, RemindersGoToMembersByTheirOffsets) {
  EXPECT_EQ(audience_of("meeting.reminder"), Audience::reminder_members);
}

TEST(Audience, RolesConcernTheirHolderAndEndingsTheCommittee) {
  EXPECT_EQ(audience_of("role.assigned"), Audience::subject_member);
  EXPECT_EQ(audience_of("role.ending"), Audience::subject_and_committee);
}

TEST(Audience, CommitteeAndMonitorsGetTheirOwnReminders) {
  EXPECT_EQ(audience_of("annual_meeting.tbd"), Audience::committee);
  EXPECT_EQ(audience_of("review.due"), Audience::committee);
  EXPECT_EQ(audience_of("topic.overdue"), Audience::monitors);
}

TEST(Audience, JoinsAndLeavesSendNoEmail) {
  EXPECT_EQ(audience_of("member.joined"), Audience::none);
  EXPECT_EQ(audience_of("member.left"), Audience::none);
}

TEST(Audience, UnknownKindsHaveNoAudience) {
  EXPECT_FALSE(audience_of(""));
  EXPECT_FALSE(audience_of("meeting"));
  EXPECT_FALSE(audience_of("Meeting.Scheduled"));
  EXPECT_FALSE(audience_of("meeting.scheduled "));
}

// The schema's CHECK on events.kind is the list of event kinds: each must have an audience.
TEST(Audience, EveryEventKindOfTheSchemaHasOne) {
  std::ifstream file(std::string(CONVENE_SOURCE_DIR) + "/schema/001_core.sql");
  ASSERT_TRUE(file) << "cannot read schema/001_core.sql";
  std::stringstream text;
  text << file.rdbuf();
  const std::string sql = text.str();
  const auto check = sql.find("kind          text NOT NULL CHECK (kind IN (");
  ASSERT_NE(check, std::string::npos);
  const std::string list = sql.substr(check, sql.find("))", check) - check);
  const std::regex quoted("'([a-z_.]+)'");
  std::vector<std::string> kinds;
  for (auto it = std::sregex_iterator(list.begin(), list.end(), quoted); it != std::sregex_iterator(); ++it)
    kinds.push_back((*it)[1]);
  ASSERT_EQ(kinds.size(), 16u);
  for (const auto& kind : kinds) EXPECT_TRUE(audience_of(kind)) << kind;
}

TEST(Audience, MeetingChangesReplanReminders) {
  for (const char* kind : {"meeting.scheduled", "meeting.updated", "meeting.cancelled", "annual_meeting.scheduled"})
    EXPECT_TRUE(replans_reminders(kind)) << kind;
  for (const char* kind : {"meeting.reminder", "topic.posted", "annual_meeting.tbd", "community.updated", ""})
    EXPECT_FALSE(replans_reminders(kind)) << kind;
}
