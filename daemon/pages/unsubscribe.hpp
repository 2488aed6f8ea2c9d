#pragma once
// One-click unsubscribe (RFC 8058), linked from every community email: POST /u/{token} ends
// email from that community for that member (no cookie, no login: the signed token is the
// authority); a digest's token (a digest may span several communities) sets every membership
// on that digest's cadence to `none`. GET /u/{token} shows a confirmation page whose button
// makes that POST, so a link scanner that follows the URL changes nothing.
#include "calendar/clock.hpp"
#include "daemon/http/router.hpp"
#include "daemon/pages/link_key.hpp"
#include "store/database.hpp"

#include <string>

namespace convene::daemon {

class UnsubscribeService {
 public:
  // `link_key` is shared with the preferences page; keep it alive longer than this.
  UnsubscribeService(store::Database& database, const calendar::Clock& clock, LinkKey& link_key)
      : database_(database), clock_(clock), link_key_(link_key) {}
  void install(http::Router& router);

 private:
  void show(const std::string& token, http::Response& res);
  void unsubscribe(const std::string& token, http::Response& res);

  store::Database& database_;
  const calendar::Clock& clock_;
  LinkKey& link_key_;
};

}  // namespace convene::daemon
