// docs/api.md must document every registered v1 route, and only those: each route has a
// heading of exactly the form "### METHOD /path" with the same {param} names as the code.
#include "calendar/clock.hpp"
#include "daemon/api/api.hpp"
#include "daemon/config.hpp"
#include "store/database.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

const char* const kDocsPath = CONVENE_SOURCE_DIR "/docs/api.md";

using RouteKey = std::pair<std::string, std::string>;  // method, path pattern

std::string describe(const RouteKey& key) { return key.first + " " + key.second; }

// Every route the v1 API registers, including those of --test-clock. Constructing the
// database does not connect.
std::set<RouteKey> registered_routes() {
  convene::daemon::Config config;
  convene::calendar::ManualClock clock{convene::calendar::Instant{}};
  convene::store::Database db(convene::store::PoolOptions{.conninfo = "postgresql:///convene-docs-test"});
  const convene::api::Api api = convene::api::v1_api(convene::api::Services{db, config, clock, &clock});
  std::set<RouteKey> out;
  for (const auto& r : api.routes()) out.insert({r.method, r.pattern});
  return out;
}

struct DocumentedHeadings {
  std::map<RouteKey, int> routes;   // "### METHOD /path" -> line of its first occurrence
  std::vector<std::string> errors;  // duplicates and near-miss headings, with line numbers
};

// The route headings of the markdown text, ignoring fenced code blocks.
DocumentedHeadings documented_routes(std::istream& in) {
  static const std::regex exact(R"(^### (GET|POST|PUT|PATCH|DELETE) (/[^\s`]*)$)");
  // Anything that looks like it was meant to be a route heading.
  static const std::regex loose(R"(^#{1,6}\s+`?(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\b.*)");
  DocumentedHeadings out;
  std::string line;
  bool in_fence = false;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("```", 0) == 0 || line.rfind("~~~", 0) == 0) {
      in_fence = !in_fence;
      continue;
    }
    if (in_fence) continue;
    std::smatch m;
    if (std::regex_match(line, m, exact)) {
      const RouteKey key{m[1].str(), m[2].str()};
      if (!out.routes.emplace(key, number).second)
        out.errors.push_back("line " + std::to_string(number) + ": " + describe(key) + " is documented twice (first on line " +
                             std::to_string(out.routes[key]) + ")");
    } else if (std::regex_match(line, loose)) {
      out.errors.push_back("line " + std::to_string(number) + ": \"" + line +
                           "\" is not of the form \"### METHOD /path\"");
    }
  }
  return out;
}

DocumentedHeadings read_docs() {
  std::ifstream file(kDocsPath);
  if (!file) {
    ADD_FAILURE() << "cannot read " << kDocsPath;
    return {};
  }
  return documented_routes(file);
}

bool is_v1(const std::string& path) { return path == "/v1" || path.rfind("/v1/", 0) == 0; }

TEST(ApiDocs, TheParserFindsExactHeadingsOutsideCodeBlocks) {
  std::istringstream text(
      "# API\n### GET /v1/me\n```\n### POST /v1/ignored\n```\n### PUT /v1/communities/{slug}/members/{member_id}\r\n"
      "## GET /v1/wrong-level\n### GET /v1/me\n");
  const auto docs = documented_routes(text);
  EXPECT_EQ(docs.routes.size(), 2u);
  EXPECT_TRUE(docs.routes.count({"GET", "/v1/me"}));
  EXPECT_TRUE(docs.routes.count({"PUT", "/v1/communities/{slug}/members/{member_id}"}));
  EXPECT_FALSE(docs.routes.count({"POST", "/v1/ignored"}));
  ASSERT_EQ(docs.errors.size(), 2u);
  EXPECT_NE(docs.errors[0].find("/v1/wrong-level"), std::string::npos);
  EXPECT_NE(docs.errors[1].find("documented twice"), std::string::npos);
}

TEST(ApiDocs, EveryRegisteredRouteHasAHeading) {
  const auto routes = registered_routes();
  ASSERT_FALSE(routes.empty());
  const auto docs = read_docs();
  std::string missing;
  for (const auto& route : routes)
    if (!docs.routes.count(route)) missing += "\n  ### " + describe(route);
  EXPECT_TRUE(missing.empty()) << "routes registered in daemon/api but not documented in docs/api.md "
                               << "(add a section with exactly this heading):" << missing;
}

TEST(ApiDocs, EveryDocumentedV1HeadingIsARegisteredRoute) {
  const auto routes = registered_routes();
  const auto docs = read_docs();
  std::string stale;
  for (const auto& [route, line] : docs.routes)
    if (is_v1(route.second) && !routes.count(route))
      stale += "\n  line " + std::to_string(line) + ": ### " + describe(route);
  EXPECT_TRUE(stale.empty()) << "docs/api.md documents routes that are not registered "
                             << "(stale docs, or a method/{param} name that differs from the code):" << stale;
}

TEST(ApiDocs, HeadingsAreWellFormedAndUnique) {
  const auto docs = read_docs();
  std::string errors;
  for (const auto& e : docs.errors) errors += "\n  " + e;
  EXPECT_TRUE(errors.empty()) << "docs/api.md has malformed or duplicate route headings:" << errors;
}

TEST(ApiDocs, HealthRoutesAreDocumented) {
  // Served by daemon/http_server.cpp rather than the v1 route table.
  const auto docs = read_docs();
  for (const char* path : {"/healthz", "/readyz", "/metrics"})
    EXPECT_TRUE(docs.routes.count({"GET", path})) << "docs/api.md has no heading ### GET " << path;
}

}  // namespace
