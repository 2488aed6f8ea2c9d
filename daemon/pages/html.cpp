#include "daemon/pages/html.hpp"

namespace convene::daemon {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void send_page(http::Response& res, int status, std::string html, std::string_view location) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  // No script at all; the one inline <style> is the page's own.
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
                 "base-uri 'none'");
  if (!location.empty()) res.set_header("Location", location);
  res.set_content(std::move(html), "text/html; charset=utf-8");
}

std::string simple_page(const std::string& title, const std::string& body_html) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  html.append(html_escape(title)).append("</title></head><body><main><h1>").append(html_escape(title)).append("</h1>");
  html.append(body_html).append("</main></body></html>\n");
  return html;
}

void send_try_again(http::Response& res, std::string_view what) {
  std::string text = "<p>The service cannot ";
  text.append(what).append(" right now. Try again in a minute.</p>");
  send_page(res, 503, simple_page("Try again shortly", text));
  res.set_header("Retry-After", "30");
}

}  // namespace convene::daemon
