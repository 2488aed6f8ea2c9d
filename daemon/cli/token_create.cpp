// convened token create: bootstraps access. Makes the member (when new), grants a global role,
// prints a new API token.
#include "base/log.hpp"
#include "calendar/clock.hpp"
#include "calendar/local_time.hpp"
#include "daemon/api/common.hpp"
#include "daemon/api/input.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/lifetime.hpp"
#include "store/database.hpp"
#include "store/sql_time.hpp"
#include "store/tokens.hpp"

#include <iostream>

namespace convene::daemon::cli {

const Usage token_create_usage{"token create --email E [--role admin|committee] [--name N]",
                               "create the member if needed, grant a global role, print a new API token"};

namespace {

struct TokenOptions {
  std::string email;
  std::string name;
  std::string role;  // "", "admin" or "committee"
};

}  // namespace

int token_create(const Globals& globals, const Args& args) {
  TokenOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--email" || arg == "--role" || arg == "--name") {
      if (i + 1 >= args.size()) return usage_error(arg + " needs a value");
      (arg == "--email" ? options.email : arg == "--role" ? options.role : options.name) = args[++i];
    } else {
      return unexpected(arg);
    }
  }
  if (options.email.empty()) return usage_error("token create needs --email");

  auto config = load_or_report(globals);
  if (!config) return 2;
  log::configure(config->log_level, config->log_format);
  if (auto problem = api::email_problem(options.email)) {
    std::cerr << "convened: --email " << *problem << "\n";
    return 2;
  }
  if (!options.role.empty() && options.role != "admin" && options.role != "committee") {
    std::cerr << "convened: --role must be admin or committee\n";
    return 2;
  }
  if (auto problem = api::text_problem(options.name, api::Text::single_line, 200)) {
    std::cerr << "convened: --name " << *problem << "\n";
    return 2;
  }
  try {
    calendar::SystemClock clock;
    store::Database database(pool_options(*config));
    const auto now = clock.now();
    const std::string now_sql = store::sql_instant(now);
    const std::string today = calendar::format_date(calendar::local_date(now, config->organisation_time_zone));
    const std::string token = store::generate_token(store::TokenPurpose::api);
    const std::string name = options.name.empty() ? options.email.substr(0, options.email.find('@')) : options.name;
    const auto member_id = database.transact([&](pqxx::work& tx) {
      auto rows = tx.exec_params("SELECT id FROM members WHERE lower(email) = lower($1)", options.email);
      const auto id = rows.empty() ? tx.exec_params(
                                           "INSERT INTO members (email, name, time_zone, created_at, updated_at) "
                                           "VALUES ($1, $2, $3, $4, $4) RETURNING id",
                                           options.email, name, config->organisation_time_zone, now_sql)[0][0]
                                         .as<std::int64_t>()
                                   : rows[0][0].as<std::int64_t>();
      if (!options.role.empty())
        tx.exec_params(
            "INSERT INTO roles (member_id, role, starts_on, created_at) SELECT $1, $2, $3::date, $4 "
            "WHERE NOT EXISTS (SELECT 1 FROM roles WHERE member_id = $1 AND role = $2 AND community_id IS NULL "
            "AND starts_on <= $3::date AND (ends_on IS NULL OR ends_on >= $3::date))",
            id, options.role, today, now_sql);
      store::insert_token(tx, id, store::TokenPurpose::api, token, "convened token create", now_sql);
      return id;
    });
    std::cerr << "member " << member_id << " (" << options.email << ")"
              << (options.role.empty() ? "" : ", role " + options.role) << "; the token is shown only once:\n";
    std::cout << token << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "convened: token create failed: " << describe_failure(e, *config) << "\n";
    return 1;
  }
}

}  // namespace convene::daemon::cli
