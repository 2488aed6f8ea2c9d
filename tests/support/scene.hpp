#pragma once
// The small world the delivery tests queue notifications in: the community 'data-science' and
// its member Ada (ada@example.org), and a topic message as fan-out stores it. SQL text only, so
// in-process tests (MigratedDatabaseTest::sql) and end-to-end ones (ConvenedTest::query) share it.
namespace convene::testing::scene {

inline constexpr char kInsertCommunity[] =
    "INSERT INTO communities (slug, name, time_zone, created_at, updated_at) "
    "VALUES ('data-science', 'Data Science', 'Europe/London', now(), now()) RETURNING id";
inline constexpr char kInsertAda[] =
    "INSERT INTO members (email, name, time_zone, created_at, updated_at) "
    "VALUES ('ada@example.org', 'Ada Lovelace', 'Europe/London', now(), now()) RETURNING id";
// A topic.posted payload (JSON, as a notification's payload column holds it).
inline constexpr char kTopicPayload[] =
    R"({"topic_id": 1, "title": "What are you reading?", "body": "Share it.", "url": "https://example.org/t/1", )"
    R"("community": "data-science", "community_name": "Data Science", "member_name": "Ada Lovelace", )"
    R"("posted_at": "2026-11-28T12:00:00Z"})";

}  // namespace convene::testing::scene
