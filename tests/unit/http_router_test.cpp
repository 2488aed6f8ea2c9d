// The HTTP front's routing and request parsing helpers (daemon/http/router, message): pure.
#include "daemon/http/message.hpp"
#include "daemon/http/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace convene::daemon::http;

namespace {

Router sample() {
  Router r;
  const Handler nothing = [](const Request&, Response&) {};
  r.add("GET", "/healthz", nothing);
  r.add("GET", "/v1/communities/{slug}", nothing);
  r.add("PATCH", "/v1/communities/{slug}", nothing);
  r.add("GET", "/v1/communities/{slug}/members/{id}", nothing);
  r.add("GET", "/feeds/rooms/{id}.ics", nothing);
  return r;
}

}  // namespace

TEST(HttpRouter, MatchesLiteralAndParameterSegmentsByMethod) {
  const Router r = sample();
  const auto m = r.match("GET", "/v1/communities/data-science/members/42");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->pattern, "/v1/communities/{slug}/members/{id}");
  EXPECT_EQ(m->params, (std::vector<std::string>{"data-science", "42"}));
  ASSERT_TRUE(r.match("PATCH", "/v1/communities/x"));
  EXPECT_EQ(r.match("PATCH", "/v1/communities/x")->route->method, "PATCH");
  EXPECT_FALSE(r.match("DELETE", "/v1/communities/x")) << "no route for this method";
  EXPECT_FALSE(r.match("GET", "/v1/communities")) << "a parameter is never empty";
  EXPECT_FALSE(r.match("GET", "/v1/communities/")) << "a parameter is never empty";
  EXPECT_FALSE(r.match("GET", "/v1/communities/a/b")) << "a parameter never spans a slash";
  EXPECT_FALSE(r.match("GET", "/healthz/")) << "paths match whole";
  EXPECT_FALSE(r.match("GET", "healthz"));
}

TEST(HttpRouter, HeadIsRoutedAsGet) {
  const Router r = sample();
  const auto m = r.match("HEAD", "/healthz");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->route->method, "GET");
}

TEST(HttpRouter, AParameterCanCarryALiteralSuffix) {
  const Router r = sample();
  const auto m = r.match("GET", "/feeds/rooms/17.ics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params, std::vector<std::string>{"17"});
  EXPECT_FALSE(r.match("GET", "/feeds/rooms/17.ic"));
  EXPECT_FALSE(r.match("GET", "/feeds/rooms/.ics")) << "the parameter before the suffix is never empty";
}

TEST(HttpRouter, LongPathsAreMatchedWithoutRecursion) {
  // std::regex recursed once per character (a stack overflow under ASan for long paths);
  // segments are compared instead, in constant stack.
  const Router r = sample();
  const std::string long_segment(1 << 20, 'a');
  const auto m = r.match("GET", "/v1/communities/" + long_segment);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->params[0].size(), long_segment.size());
  EXPECT_FALSE(r.match("GET", "/" + std::string(1 << 20, '/')));
}

TEST(HttpRouter, RefusesMalformedAndDuplicatePatterns) {
  Router r = sample();
  const Handler nothing = [](const Request&, Response&) {};
  EXPECT_THROW(r.add("GET", "/healthz", nothing), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "no-slash", nothing), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/v1/{}", nothing), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/v1/x{id}", nothing), std::invalid_argument);
  EXPECT_NO_THROW(r.add("POST", "/healthz", nothing)) << "same pattern, another method";
}

TEST(HttpRouter, RunRouteTurnsFailuresIntoAnswersAndReportsThem) {
  Route route{"GET", "/boom", [](const Request&, Response&) { throw std::runtime_error("kaput"); }, {}, {}};
  Request request;
  request.method = "GET";
  request.path = "/boom";
  Response response;
  std::string seen_route;
  int seen_status = 0;
  run_route(route, request, response, [&](std::string_view r, int status, auto) {
    seen_route = r;
    seen_status = status;
  });
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body.find("kaput"), std::string::npos) << "no internals in the answer";
  EXPECT_EQ(seen_route, "/boom");
  EXPECT_EQ(seen_status, 500);

  route.options.failure = [](Response& res, int status, std::string_view) {
    res.status = status;
    res.set_content("<p>try again</p>", "text/html");
  };
  Response html;
  run_route(route, request, html, {});
  EXPECT_EQ(html.status, 500);
  EXPECT_EQ(html.body, "<p>try again</p>") << "the route's own failure page";
}

TEST(HttpMessage, PercentDecodingRefusesBrokenEscapes) {
  std::string out;
  EXPECT_TRUE(percent_decode("/a%20b%2Fc", out, false));
  EXPECT_EQ(out, "/a b/c");
  EXPECT_TRUE(percent_decode("a+b", out, false));
  EXPECT_EQ(out, "a+b") << "'+' is a space only in queries";
  EXPECT_FALSE(percent_decode("%", out, false));
  EXPECT_FALSE(percent_decode("%4", out, false));
  EXPECT_FALSE(percent_decode("%zz", out, false));
}

TEST(HttpMessage, QueryStringsAreDecodedAndMalformedPairsSkipped) {
  const auto q = parse_query("token=a%2Bb&from=2027-01-01&flag&x=%zz&&q=two+words");
  EXPECT_EQ(q.find("token")->second, "a+b");
  EXPECT_EQ(q.find("from")->second, "2027-01-01");
  EXPECT_EQ(q.find("flag")->second, "");
  EXPECT_EQ(q.count("x"), 0u);
  EXPECT_EQ(q.find("q")->second, "two words");
}

TEST(HttpMessage, HeaderNamesAreCaseInsensitive) {
  Request r;
  r.headers.emplace("Content-Type", "text/csv");
  EXPECT_TRUE(r.has_header("content-type"));
  EXPECT_EQ(r.get_header_value("CONTENT-TYPE"), "text/csv");
  EXPECT_EQ(r.get_header_value("Accept"), "");
  Response res;
  res.set_header("cache-control", "no-store");
  res.set_header("Cache-Control", "public");
  EXPECT_EQ(res.headers.size(), 1u) << "set_header replaces whatever the case";
}
