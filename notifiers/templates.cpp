#include "notifiers/templates.hpp"

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include <boost/json/array.hpp>
#include <kainjow/mustache.hpp>

#include "notifiers/text.hpp"

namespace convene::notifiers {
namespace {

namespace mustache = kainjow::mustache;

constexpr std::size_t kMaxTemplateBytes = 256 * 1024;

// The view as mustache data: strings cleaned of control characters, numbers as text, null and
// "" as false (so {{#field}} sections skip them).
mustache::data to_data(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::string: {
      // An empty string is false too: mustache would otherwise enter {{#field}} for it.
      std::string text = multi_line(value.get_string());
      return text.empty() ? mustache::data(false) : mustache::data(text);
    }
    case boost::json::kind::int64:
      return mustache::data(std::to_string(value.get_int64()));
    case boost::json::kind::uint64:
      return mustache::data(std::to_string(value.get_uint64()));
    case boost::json::kind::double_: {
      std::ostringstream out;
      out << value.get_double();
      return mustache::data(out.str());
    }
    case boost::json::kind::bool_:
      return mustache::data(value.get_bool());
    case boost::json::kind::null:
      return mustache::data(false);
    case boost::json::kind::array: {
      mustache::data list(mustache::data::type::list);
      for (const auto& item : value.get_array()) list.push_back(to_data(item));
      return list;
    }
    case boost::json::kind::object: {
      mustache::data object(mustache::data::type::object);
      for (const auto& [key, item] : value.get_object()) object.set(std::string(key), to_data(item));
      return object;
    }
  }
  return mustache::data(false);
}

// Standalone section lines (mustache spec): a line holding only section, inverted-section,
// end or comment tags is not output at all. kainjow 4.1 gets this wrong both ways: it keeps
// the line of a skipped section, and it drops any whitespace-only line that follows a rendered
// tag. So at load each such line loses its newline and indentation and gets a marker after its
// tags; the marker keeps kainjow from dropping the line it now shares, and is removed from the
// output. (Data cannot hold it: to_data removes control characters.)
constexpr char kMarker = '\x01';

std::string mark_standalone_tags(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  std::size_t start = 0;
  while (start < source.size()) {
    std::size_t end = source.find('\n', start);
    const bool last = end == std::string::npos;
    if (last) end = source.size();
    std::string_view line(source.data() + start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    const auto first = line.find_first_not_of(" \t"), final = line.find_last_not_of(" \t");
    const std::string_view trimmed = first == std::string_view::npos ? std::string_view{} : line.substr(first, final - first + 1);
    bool standalone = !trimmed.empty();
    for (std::size_t pos = 0; standalone && pos < trimmed.size();) {
      const std::size_t close = trimmed.find("}}", pos);
      standalone = trimmed.substr(pos, 2) == "{{" && pos + 2 < trimmed.size() &&
                   std::string_view("#^/!").find(trimmed[pos + 2]) != std::string_view::npos && close != std::string_view::npos;
      pos = close == std::string_view::npos ? trimmed.size() : close + 2;
    }
    if (standalone) {
      out.append(trimmed);
      out += kMarker;
    } else {
      out.append(source, start, end - start);
      if (!last) out += '\n';
    }
    start = end + 1;
  }
  return out;
}

enum class Mode { text, html };

// Parsed templates, kept per thread: kainjow's renderer records errors in the template object,
// so one is never shared between threads, and parsing for every message cost more than
// rendering it. An entry is keyed by where its source lives and checked against the source
// itself, so a Templates loaded later at the same address never gets another's template.
struct ParsedTemplate {
  std::string source;
  std::unique_ptr<mustache::mustache> tmpl;  // null: parse again
};

ParsedTemplate& parsed(const std::string& source, Mode mode) {
  thread_local std::map<std::pair<const std::string*, Mode>, ParsedTemplate> cache;
  // Templates come and go (tests, reloads): the cache never grows without bound.
  if (cache.size() > 512) cache.clear();
  ParsedTemplate& entry = cache[{&source, mode}];
  if (!entry.tmpl || entry.source != source) {
    entry.source = source;
    entry.tmpl = std::make_unique<mustache::mustache>(source);
    if (mode == Mode::text) entry.tmpl->set_custom_escape([](const std::string& s) { return s; });
  }
  return entry;
}

std::string render_one(const std::string& source, const mustache::data& data, Mode mode) {
  ParsedTemplate& entry = parsed(source, mode);
  std::string out = entry.tmpl->render(data);
  if (!entry.tmpl->is_valid()) {
    const std::string error = entry.tmpl->error_message();
    entry.tmpl.reset();  // the error would stick to every later render
    throw std::logic_error("template failed: " + error);
  }
  std::erase(out, kMarker);
  return out;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || content.size() > kMaxTemplateBytes) return std::nullopt;
  return content;
}

}  // namespace

const std::vector<std::string_view>& email_event_kinds() {
  static const std::vector<std::string_view> kinds{
      "community.updated", "community.split",   "community.merged",         "role.assigned",      "role.ending",
      "meeting.scheduled", "meeting.updated",   "meeting.cancelled",        "meeting.reminder",   "annual_meeting.scheduled",
      "annual_meeting.tbd", "topic.posted",     "topic.overdue",            "review.due",
      // Not event kinds: the owner of a webhook endpoint the delivery worker disabled, the
      // daily and weekly digests (notifiers/digest_view.hpp), and a member's new preferences
      // link (daemon/pages/preferences.cpp).
      "webhook.disabled", "digest.daily", "digest.weekly", "preferences.link"};
  return kinds;
}

Templates Templates::load(const std::filesystem::path& directory) {
  Templates t;
  std::vector<std::string> problems;
  const auto load_one = [&](const std::string& name, std::string& into, bool needs_content) {
    const auto path = directory / name;
    auto source = read_file(path);
    if (!source) {
      problems.push_back(path.string() + ": missing, unreadable or larger than 256 KiB");
      return;
    }
    const mustache::mustache parsed(*source);
    if (!parsed.is_valid()) problems.push_back(path.string() + ": " + parsed.error_message());
    // kainjow reads a partial's text from the data, so {{> title}} would run a member's text as
    // a template.
    if (source->find("{{>") != std::string::npos) problems.push_back(path.string() + ": uses a partial ({{>)");
    if (needs_content && source->find("{{{content}}}") == std::string::npos)
      problems.push_back(path.string() + ": does not place {{{content}}}");
    into = mark_standalone_tags(*source);
  };
  load_one("layout.text.mustache", t.text_layout_, true);
  load_one("layout.html.mustache", t.html_layout_, true);
  for (const auto kind : email_event_kinds()) {
    Kind k;
    const std::string base(kind);
    load_one(base + ".subject.mustache", k.subject, false);
    load_one(base + ".text.mustache", k.text, false);
    load_one(base + ".html.mustache", k.html, false);
    t.kinds_.emplace(base, std::move(k));
  }
  if (!problems.empty()) {
    std::string message = "email templates in " + directory.string() + ":";
    for (const auto& p : problems) message += "\n  " + p;
    throw TemplateError(message);
  }
  return t;
}

RenderedMessage Templates::render(std::string_view event_kind, const boost::json::object& payload,
                                  const MessageContext& context) const {
  const auto found = kinds_.find(event_kind);
  if (found == kinds_.end()) throw std::invalid_argument("no email templates for event kind " + std::string(event_kind));
  const Kind& kind = found->second;
  mustache::data data = to_data(message_view(event_kind, payload, context));
  RenderedMessage out;
  out.subject = single_line(render_one(kind.subject, data, Mode::text));
  data.set("subject", out.subject);
  // The layouts decide the spacing around a body.
  const auto body = [&](const std::string& source, Mode mode) {
    std::string content = render_one(source, data, mode);
    while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) content.pop_back();
    return content;
  };
  data.set("content", body(kind.text, Mode::text));
  out.text = render_one(text_layout_, data, Mode::text);
  data.set("content", body(kind.html, Mode::html));
  out.html = render_one(html_layout_, data, Mode::html);
  return out;
}

}  // namespace convene::notifiers
