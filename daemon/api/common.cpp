#include "daemon/api/common.hpp"

#include "daemon/api/member_changes.hpp"
#include "store/sql_time.hpp"

#include <charconv>

namespace convene::api {

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, id);
  if (ec != std::errc() || ptr != end || id <= 0 || text.size() > 18) return std::nullopt;
  return id;
}

std::optional<std::string> email_problem(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) return "must be an email address of at most 254 characters";
  const auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size() ||
      email.find('@') != at || email.substr(at + 1).find('.') == std::string_view::npos)
    return "must be an email address such as ada@example.org";
  for (unsigned char c : email)
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' || c == '\\' ||
        c == '(' || c == ')' || c == '[' || c == ']')
      return "must be a plain email address (no spaces, quotes, brackets or display name)";
  if (email.back() == '.' || email.substr(at + 1).front() == '.') return "must be an email address such as ada@example.org";
  return std::nullopt;
}

std::optional<std::string> slug_problem(std::string_view slug) {
  if (slug.empty() || slug.size() > 64) return "must be 1 to 64 characters";
  bool dash_ok = false;
  for (char c : slug) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '-' && dash_ok) {
      dash_ok = false;
      continue;
    }
    if (!alnum) return "must be lower-case letters and digits separated by single dashes, such as data-science";
    dash_ok = true;
  }
  if (!dash_ok) return "must not end with a dash";
  return std::nullopt;
}

std::optional<std::string> url_problem(std::string_view url) {
  if (url.size() > 2000) return "must be at most 2000 characters";
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) return "must be an http(s) URL";
  for (unsigned char c : url)
    if (c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>') return "must be a URL without spaces or quotes";
  if (url.size() <= 8) return "must be an http(s) URL";
  return std::nullopt;
}

std::optional<std::string> date_range_problem(std::chrono::year_month_day date) {
  if (date.year() < std::chrono::year{1970} || date.year() > std::chrono::year{2200})
    return "must be a date between 1970 and 2200";
  return std::nullopt;
}

std::optional<std::string> date_range_problem(calendar::LocalDateTime local) {
  return date_range_problem(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(local)});
}

std::optional<calendar::Instant> parse_time_bound(std::string_view text, std::string_view zone, int date_offset_days) {
  using namespace std::chrono;
  if (const auto d = calendar::parse_date(text); d && !date_range_problem(*d))
    return calendar::to_instant(calendar::LocalDateTime{(local_days{*d} + days(date_offset_days)).time_since_epoch()}, zone);
  if (const auto t = calendar::parse_rfc3339(text); t && !date_range_problem(year_month_day{floor<days>(*t)})) return t;
  return std::nullopt;
}

std::string uid_domain(const daemon::Config& config) {
  std::string host = config.public_url.substr(config.public_url.find("://") + 3);
  host = host.substr(0, host.find_first_of(":/"));
  return host.empty() ? "convene" : host;
}

jobs::KindSettings kind_settings(const daemon::Config& config) {
  jobs::KindSettings k;
  k.organisation_time_zone = config.organisation_time_zone;
  k.uid_domain = uid_domain(config);
  k.annual_window_month = config.annual_window_month;
  k.annual_window_first_day = config.annual_window_first_day;
  k.annual_window_days = config.annual_window_days;
  k.placeholders_month = config.placeholders_at.month;
  k.placeholders_day = config.placeholders_at.day;
  k.placeholders_time = config.placeholders_at.time;
  k.tbd_reminder_month = config.tbd_reminder_at.month;
  k.tbd_reminder_day = config.tbd_reminder_at.day;
  k.tbd_reminder_time = config.tbd_reminder_at.time;
  k.review_month = config.annual_review_at.month;
  k.review_day = config.annual_review_at.day;
  k.review_time = config.annual_review_at.time;
  k.daily_checks_time = config.daily_checks_at;
  k.role_ending_notice_days = config.role_ending_notice_days;
  k.booking_horizon_months = config.booking_horizon_months;
  k.digest_batch = config.digest_batch;
  k.digest_chains = config.digest_chains;
  return k;
}

void emit_event(Call& call, std::string_view kind, std::optional<std::int64_t> community_id,
                boost::json::object payload) {
  insert_event(call.tx, kind, community_id, std::move(payload),
               call.principal ? std::optional(call.principal->member_id) : std::nullopt, call.now_sql);
}

std::optional<Page> parse_page(const Call& call, Reply& error) {
  Page page;
  std::vector<FieldError> errors;
  auto read = [&](const char* name, std::int64_t max, std::int64_t& out) {
    const auto value = call.query(name);
    if (!value) return;
    std::int64_t n = 0;
    const auto* end = value->data() + value->size();
    const auto [ptr, ec] = std::from_chars(value->data(), end, n);
    if (ec != std::errc() || ptr != end || n < 1 || n > max)
      errors.push_back({name, "must be a whole number from 1 to " + std::to_string(max)});
    else
      out = n;
  };
  read("page", 1000000, page.page);
  read("per_page", 200, page.per_page);
  if (!errors.empty()) {
    error = field_problem(422, "bad pagination", errors);
    return std::nullopt;
  }
  return page;
}

boost::json::object page_json(const Page& page, std::int64_t total, boost::json::array items) {
  return boost::json::object{{"total", total}, {"page", page.page}, {"per_page", page.per_page},
                             {"items", std::move(items)}};
}

std::string rfc3339(const std::string& sql_timestamptz) {
  return store::sql_instant(store::parse_sql_instant(sql_timestamptz));
}

std::optional<CommunityRef> find_community(Call& call, std::string_view slug, bool for_update) {
  if (slug_problem(slug)) return std::nullopt;
  const auto rows = call.tx.exec_params(
      std::string("SELECT id, slug, name, status, time_zone FROM communities WHERE slug = $1") +
          (for_update ? " FOR UPDATE" : ""),
      std::string(slug));
  if (rows.empty()) return std::nullopt;
  return CommunityRef{rows[0][0].as<std::int64_t>(), rows[0][1].as<std::string>(), rows[0][2].as<std::string>(),
                      rows[0][3].as<std::string>(), rows[0][4].as<std::string>()};
}

}  // namespace convene::api
