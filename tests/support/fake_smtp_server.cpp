#include "support/fake_smtp_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <future>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

namespace convene::testing {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;

// ---- the test PKI (OpenSSL's C API; every handle owned by a unique_ptr)

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

[[noreturn]] void openssl_failed(const std::string& what) {
  char text[256] = {};
  ERR_error_string_n(ERR_get_error(), text, sizeof text);
  ERR_clear_error();
  throw std::runtime_error("test PKI: " + what + ": " + text);
}

PkeyPtr new_key() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 || EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") <= 0)
    openssl_failed("EC key context");
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &key) <= 0) openssl_failed("EC key generation");
  return PkeyPtr(key);
}

void add_extension(X509* cert, X509V3_CTX& ctx, int nid, const char* value) {
  std::unique_ptr<X509_EXTENSION, ExtensionFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) openssl_failed(std::string("extension ") + value);
}

// A CA when issuer is null (self-signed, `key` signs), otherwise a server certificate for `names`.
X509Ptr new_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
                        const char* names = nullptr) {
  static std::atomic<long> serial{1};
  X509Ptr cert(X509_new());
  if (!cert) openssl_failed("X509_new");
  X509* c = cert.get();
  const bool ca = issuer == nullptr;
  if (X509_set_version(c, 2) != 1 ||
      ASN1_INTEGER_set(X509_get_serialNumber(c), static_cast<long>(::time(nullptr) % 100000) * 1000 + serial++) != 1 ||
      !X509_gmtime_adj(X509_getm_notBefore(c), -3600) || !X509_gmtime_adj(X509_getm_notAfter(c), 2 * 86400) ||
      X509_set_pubkey(c, key) != 1)
    openssl_failed("certificate fields");
  X509_NAME* name = X509_get_subject_name(c);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Convene tests"), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 -1, -1, 0) != 1 ||
      X509_set_issuer_name(c, ca ? name : X509_get_subject_name(issuer)) != 1)
    openssl_failed("certificate names");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca ? c : issuer, c, nullptr, nullptr, 0);
  add_extension(c, ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(c, ctx, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_extension(c, ctx, NID_subject_key_identifier, "hash");
  add_extension(c, ctx, NID_authority_key_identifier, "keyid:always");
  if (!ca) {
    add_extension(c, ctx, NID_ext_key_usage, "serverAuth");
    add_extension(c, ctx, NID_subject_alt_name, names);
  }
  if (X509_sign(c, ca ? key : issuer_key, EVP_sha256()) <= 0) openssl_failed("signing " + common_name);
  return cert;
}

void write_pem(const std::filesystem::path& path, const std::vector<X509*>& certs, EVP_PKEY* key = nullptr) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "w"));
  if (!bio) openssl_failed("opening " + path.string());
  for (X509* cert : certs)
    if (PEM_write_bio_X509(bio.get(), cert) != 1) openssl_failed("writing " + path.string());
  if (key && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    openssl_failed("writing " + path.string());
  if (BIO_flush(bio.get()) != 1) openssl_failed("flushing " + path.string());
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // '=' padding and anything else
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

// "<a@b> SIZE=123" -> "a@b"
std::string angle_address(std::string_view arguments) {
  const auto open = arguments.find('<');
  const auto close = arguments.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return std::string(arguments);
  return std::string(arguments.substr(open + 1, close - open - 1));
}

}  // namespace

TestPki make_test_pki(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  TestPki pki{dir / "ca.pem", dir / "server.pem", dir / "server-key.pem", dir / "wrong-name.pem", dir / "other-ca.pem"};
  const PkeyPtr ca_key = new_key(), server_key = new_key(), other_key = new_key();
  const X509Ptr ca = new_certificate(ca_key.get(), "Convene test CA", nullptr, nullptr);
  const X509Ptr server =
      new_certificate(server_key.get(), "localhost", ca.get(), ca_key.get(), "IP:127.0.0.1,DNS:localhost");
  const X509Ptr wrong_name =
      new_certificate(server_key.get(), "other.invalid", ca.get(), ca_key.get(), "DNS:other.invalid");
  const X509Ptr other_ca = new_certificate(other_key.get(), "Convene other test CA", nullptr, nullptr);
  write_pem(pki.ca_file, {ca.get()});
  write_pem(pki.cert_file, {server.get(), ca.get()});
  write_pem(pki.key_file, {}, server_key.get());
  write_pem(pki.wrong_name_cert_file, {wrong_name.get(), ca.get()});
  write_pem(pki.other_ca_file, {other_ca.get()});
  return pki;
}

struct FakeSmtpServer::Session {
  explicit Session(tcp::socket s) : socket(std::move(s)), hang(socket.get_executor()) {}
  tcp::socket socket;  // the TCP connection, also under `tls` once that exists
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  asio::steady_timer hang;
  std::string buffer;
  std::string user;  // authenticated as
  bool greeted = false;  // EHLO/HELO since the session (or its TLS) began
  bool in_transaction = false;
  Message message;
};

FakeSmtpServer::FakeSmtpServer() : FakeSmtpServer(Options{}) {}

FakeSmtpServer::FakeSmtpServer(Options options)
    : options_(std::move(options)), work_(io_.get_executor()), acceptor_(io_) {
  if (options_.tls != Tls::none) {
    tls_context_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_context_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                              ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls_context_->use_certificate_chain_file(options_.cert_file);
    tls_context_->use_private_key_file(options_.key_file, ssl::context::pem);
  }
  open_listener();
  asio::co_spawn(io_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

FakeSmtpServer::~FakeSmtpServer() {
  run_on_io([this] { close_all(); });
  work_.reset();
  io_.stop();
  thread_.join();
}

std::string FakeSmtpServer::url() const {
  return (options_.tls == Tls::implicit ? "smtps://127.0.0.1:" : "smtp://127.0.0.1:") + std::to_string(port_);
}

void FakeSmtpServer::run_on_io(const std::function<void()>& work) {
  std::promise<void> done;
  asio::post(io_, [&] {
    try {
      work();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  done.get_future().get();
}

void FakeSmtpServer::open_listener() {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port_);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
}

void FakeSmtpServer::close_all() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (const auto& s : sessions_) {
    s->socket.shutdown(tcp::socket::shutdown_both, ignored);
    s->socket.close(ignored);
    s->hang.cancel();
  }
  sessions_.clear();
}

void FakeSmtpServer::stop_accepting() {
  run_on_io([this] { close_all(); });
}

void FakeSmtpServer::start_accepting() {
  run_on_io([this] {
    open_listener();
    asio::co_spawn(io_, accept_loop(), asio::detached);
  });
}

void FakeSmtpServer::fail_next(const std::string& point, int code, std::string text, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i) faults_[point].push_back({Fault::Action::reply, code, text});
}

void FakeSmtpServer::refuse_recipient(const std::string& address, int code, std::string text, const std::string& point) {
  std::lock_guard lock(mutex_);
  refusals_[address] = Refusal{point, code, std::move(text)};
}

std::size_t FakeSmtpServer::rcpt_count(const std::string& address) const {
  std::lock_guard lock(mutex_);
  const auto it = rcpts_.find(address);
  return it == rcpts_.end() ? 0 : it->second;
}

void FakeSmtpServer::set_random_faults(double temporary_failure_ratio, double drop_ratio, unsigned seed) {
  std::lock_guard lock(mutex_);
  random_faults_.emplace(RandomFaults{temporary_failure_ratio, drop_ratio, std::mt19937(seed), 0, 0});
}

std::size_t FakeSmtpServer::temporary_failures() const {
  std::lock_guard lock(mutex_);
  return random_faults_ ? random_faults_->temporary_failures : 0;
}

std::size_t FakeSmtpServer::dropped() const {
  std::lock_guard lock(mutex_);
  return random_faults_ ? random_faults_->dropped : 0;
}

void FakeSmtpServer::drop_next(const std::string& point, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i) faults_[point].push_back({Fault::Action::drop, 0, ""});
}

void FakeSmtpServer::hang_next(const std::string& point, int times) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < times; ++i) faults_[point].push_back({Fault::Action::hang, 0, ""});
}

bool FakeSmtpServer::take_fault(const std::string& point, Fault& fault) {
  std::lock_guard lock(mutex_);
  auto it = faults_.find(point);
  if (it == faults_.end() || it->second.empty()) return false;
  fault = std::move(it->second.front());
  it->second.pop_front();
  return true;
}

std::vector<FakeSmtpServer::Message> FakeSmtpServer::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::size_t FakeSmtpServer::connections() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

std::vector<std::string> FakeSmtpServer::transcript() const {
  std::lock_guard lock(mutex_);
  return transcript_;
}

bool FakeSmtpServer::wait_for_transcript(const std::string& entry, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return received_.wait_for(lock, timeout, [&] {
    return std::any_of(transcript_.begin(), transcript_.end(), [&](const std::string& e) {
      return e == entry || (entry.ends_with(' ') && e.starts_with(entry));
    });
  });
}

std::size_t FakeSmtpServer::mail_commands_in_clear() const {
  std::lock_guard lock(mutex_);
  return mail_in_clear_;
}

std::size_t FakeSmtpServer::peak_final_replies_pending() const {
  std::lock_guard lock(mutex_);
  return peak_final_replies_pending_;
}

std::size_t FakeSmtpServer::tls_sessions() const {
  std::lock_guard lock(mutex_);
  return tls_sessions_;
}

void FakeSmtpServer::note(std::string entry) {
  {
    std::lock_guard lock(mutex_);
    transcript_.push_back(std::move(entry));
  }
  received_.notify_all();
}

bool FakeSmtpServer::auth_offered(const Session& s) const {
  return !options_.user.empty() && (options_.tls == Tls::none || s.tls);
}

bool FakeSmtpServer::wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return received_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
}

asio::awaitable<void> FakeSmtpServer::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      ++connections_;
    }
    note("CONNECT");
    auto s = std::make_shared<Session>(std::move(socket));
    sessions_.insert(s);
    asio::co_spawn(io_, session(std::move(s)), asio::detached);
  }
}

asio::awaitable<bool> FakeSmtpServer::read_line(Session& s, std::string& line) {
  auto buffer = asio::dynamic_buffer(s.buffer);
  boost::system::error_code ec;
  std::size_t n = 0;
  if (s.tls)
    std::tie(ec, n) = co_await asio::async_read_until(*s.tls, buffer, "\r\n", asio::as_tuple(asio::use_awaitable));
  else
    std::tie(ec, n) = co_await asio::async_read_until(s.socket, buffer, "\r\n", asio::as_tuple(asio::use_awaitable));
  if (ec) co_return false;
  line.assign(s.buffer, 0, n - 2);
  s.buffer.erase(0, n);
  co_return true;
}

asio::awaitable<bool> FakeSmtpServer::write_text(Session& s, const std::string& text) {
  auto buffer = asio::buffer(text);
  boost::system::error_code ec;
  std::size_t n = 0;
  if (s.tls)
    std::tie(ec, n) = co_await asio::async_write(*s.tls, buffer, asio::as_tuple(asio::use_awaitable));
  else
    std::tie(ec, n) = co_await asio::async_write(s.socket, buffer, asio::as_tuple(asio::use_awaitable));
  (void)n;
  co_return !ec;
}

asio::awaitable<bool> FakeSmtpServer::handshake(Session& s) {
  s.tls = std::make_unique<ssl::stream<tcp::socket&>>(s.socket, *tls_context_);
  auto [ec] = co_await s.tls->async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    note("TLS-FAILED");
    co_return false;
  }
  {
    std::lock_guard lock(mutex_);
    ++tls_sessions_;
  }
  note(std::string("TLS ") + SSL_get_version(s.tls->native_handle()));
  // RFC 3207 §4.2: the client must forget what it knew and start again with EHLO; the server
  // forgets too (the EHLO, any authentication, any transaction).
  s.greeted = false;
  s.user.clear();
  s.in_transaction = false;
  co_return true;
}

asio::awaitable<bool> FakeSmtpServer::apply_fault(Session& s, const Fault& fault) {
  boost::system::error_code ignored;
  switch (fault.action) {
    case Fault::Action::drop:
      s.socket.shutdown(tcp::socket::shutdown_both, ignored);
      s.socket.close(ignored);
      co_return false;
    case Fault::Action::hang: {
      s.hang.expires_at(asio::steady_timer::time_point::max());
      auto [ec] = co_await s.hang.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
      s.socket.close(ignored);
      co_return false;
    }
    case Fault::Action::reply:
      break;
  }
  std::string line = std::to_string(fault.code) + " " + (fault.text.empty() ? "fault injected" : fault.text) + "\r\n";
  const bool written = co_await write_text(s, line);
  if (!written || fault.code == 421) {  // 421: the server closes the channel
    s.socket.close(ignored);
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> FakeSmtpServer::authenticate(Session& s, const std::string& arguments) {
  const auto space = arguments.find(' ');
  const std::string mechanism = upper(arguments.substr(0, space));
  std::string initial = space == std::string::npos ? "" : arguments.substr(space + 1);
  std::string user, password;
  if (mechanism == "PLAIN") {
    if (initial.empty()) {
      const std::string prompt = "334 \r\n";
      if (!co_await write_text(s, prompt)) co_return false;
      if (!co_await read_line(s, initial)) co_return false;
    }
    const std::string decoded = base64_decode(initial);  // authzid \0 user \0 password
    const auto first = decoded.find('\0');
    const auto second = first == std::string::npos ? std::string::npos : decoded.find('\0', first + 1);
    if (second != std::string::npos) {
      user = decoded.substr(first + 1, second - first - 1);
      password = decoded.substr(second + 1);
    }
  } else if (mechanism == "LOGIN") {
    std::string line = initial;
    if (line.empty()) {
      const std::string prompt = "334 VXNlcm5hbWU6\r\n";
      if (!co_await write_text(s, prompt)) co_return false;
      if (!co_await read_line(s, line)) co_return false;
    }
    user = base64_decode(line);
    const std::string prompt = "334 UGFzc3dvcmQ6\r\n";
    if (!co_await write_text(s, prompt)) co_return false;
    if (!co_await read_line(s, line)) co_return false;
    password = base64_decode(line);
  } else {
    const std::string reply = "504 5.5.4 Unrecognized authentication type\r\n";
    co_return co_await write_text(s, reply);
  }
  if (!user.empty() && user == options_.user && password == options_.password) {
    note("AUTH-OK");
    s.user = user;
    const std::string reply = "235 2.7.0 Authentication successful\r\n";
    co_return co_await write_text(s, reply);
  }
  note("AUTH-FAILED");
  const std::string reply = "535 5.7.8 Authentication credentials invalid\r\n";
  co_return co_await write_text(s, reply);
}

asio::awaitable<void> FakeSmtpServer::session(std::shared_ptr<Session> s) {
  Fault fault;
  bool open = true;
  if (options_.tls == Tls::implicit) open = co_await handshake(*s);  // SMTPS: TLS before the greeting
  if (open) {
    if (take_fault("CONNECT", fault)) {
      open = co_await apply_fault(*s, fault);
    } else {
      const std::string greeting = "220 fake.smtp.test ESMTP ready\r\n";
      open = co_await write_text(*s, greeting);
    }
  }

  std::string line;
  while (open && co_await read_line(*s, line)) {
    const auto space = line.find(' ');
    const std::string verb = upper(line.substr(0, space));
    const std::string arguments = space == std::string::npos ? "" : line.substr(space + 1);
    std::string reply;
    static const std::set<std::string> verbs{"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT",
                                             "DATA", "RSET", "NOOP", "QUIT", "VRFY", "HELP"};
    note(verbs.contains(verb) ? verb : std::string("?"));  // never anything else the client sent

    if (verb == "EHLO" || verb == "HELO") {
      if (take_fault("EHLO", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      s->in_transaction = false;
      s->greeted = true;
      if (verb == "HELO") {
        reply = "250 fake.smtp.test\r\n";
      } else {
        reply = "250-fake.smtp.test greets " + arguments + "\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n";
        if (options_.tls == Tls::starttls && !s->tls) reply += "250-STARTTLS\r\n";
        if (auth_offered(*s)) reply += "250-AUTH " + options_.auth_mechanisms + "\r\n";
        reply += "250 ENHANCEDSTATUSCODES\r\n";
      }
    } else if (verb == "STARTTLS") {
      if (options_.tls != Tls::starttls) {
        reply = "502 5.5.1 STARTTLS not offered\r\n";
      } else if (s->tls) {
        reply = "503 5.5.1 TLS already active\r\n";
      } else if (!s->greeted) {
        reply = "503 5.5.1 EHLO first\r\n";
      } else if (take_fault("STARTTLS", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      } else {
        if (!s->buffer.empty()) {  // sent before our 220: plaintext that must not count as TLS
          note("PIPELINED-STARTTLS");
          s->buffer.clear();
        }
        const std::string go = "220 2.0.0 Ready to start TLS\r\n";
        open = co_await write_text(*s, go);
        if (open) open = co_await handshake(*s);
        continue;
      }
    } else if (verb == "AUTH") {
      if (take_fault("AUTH", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (!options_.user.empty() && options_.tls != Tls::none && !s->tls) {
        reply = "530 5.7.0 Must issue a STARTTLS command first\r\n";
      } else if (options_.user.empty()) {
        reply = "502 5.5.1 AUTH not offered\r\n";
      } else if (!s->greeted) {
        reply = "503 5.5.1 EHLO first\r\n";
      } else if (!s->user.empty()) {
        reply = "503 5.5.1 Already authenticated\r\n";
      } else {
        open = co_await authenticate(*s, arguments);
        continue;
      }
    } else if (verb == "MAIL") {
      if (!s->tls) {
        std::lock_guard lock(mutex_);
        ++mail_in_clear_;
      }
      if (take_fault("MAIL", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (!s->greeted) {
        reply = "503 5.5.1 EHLO first\r\n";
      } else if (!options_.user.empty() && s->user.empty()) {
        reply = "530 5.7.0 Authentication required\r\n";
      } else {
        s->in_transaction = true;
        s->message = Message{};
        s->message.mail_from = angle_address(arguments.substr(arguments.find(':') + 1));
        s->message.user = s->user;
        s->message.tls = s->tls != nullptr;
        reply = "250 2.1.0 Sender OK\r\n";
      }
    } else if (verb == "RCPT") {
      if (take_fault("RCPT", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      const std::string address = angle_address(arguments.substr(arguments.find(':') + 1));
      std::optional<Refusal> refusal;
      {
        std::lock_guard lock(mutex_);
        ++rcpts_[address];
        if (const auto it = refusals_.find(address); it != refusals_.end() && it->second.point == "RCPT")
          refusal = it->second;
      }
      if (!s->in_transaction) {
        reply = "503 5.5.1 MAIL first\r\n";
      } else if (refusal) {
        reply = std::to_string(refusal->code) + " " + refusal->text + "\r\n";
      } else {
        s->message.recipients.push_back(address);
        reply = "250 2.1.5 Recipient OK\r\n";
      }
    } else if (verb == "DATA") {
      if (take_fault("DATA", fault)) {
        open = co_await apply_fault(*s, fault);
        continue;
      }
      if (!s->in_transaction || s->message.recipients.empty()) {
        reply = "503 5.5.1 RCPT first\r\n";
      } else {
        const std::string go = "354 End data with <CR><LF>.<CR><LF>\r\n";
        if (!co_await write_text(*s, go)) break;
        std::string data;
        bool complete = false;
        while (co_await read_line(*s, line)) {
          if (line == ".") {
            complete = true;
            break;
          }
          if (!line.empty() && line.front() == '.') line.erase(0, 1);  // dot-unstuffing
          data += line;
          data += "\r\n";
        }
        if (!complete) break;
        note("END");
        s->in_transaction = false;
        if (take_fault("END", fault)) {
          open = co_await apply_fault(*s, fault);
          continue;
        }
        std::optional<Refusal> refusal;
        {
          std::lock_guard lock(mutex_);
          for (const auto& recipient : s->message.recipients)
            if (const auto it = refusals_.find(recipient); it != refusals_.end() && it->second.point == "END")
              refusal = it->second;
        }
        if (refusal) {
          const std::string refused = std::to_string(refusal->code) + " " + refusal->text + "\r\n";
          open = co_await write_text(*s, refused);
          continue;
        }
        enum class Chance { accept, temporary_failure, drop } chance = Chance::accept;
        {
          std::lock_guard lock(mutex_);
          if (random_faults_) {
            const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(random_faults_->generator);
            if (draw < random_faults_->temporary_failure_ratio) {
              chance = Chance::temporary_failure;
              ++random_faults_->temporary_failures;
            } else if (draw < random_faults_->temporary_failure_ratio + random_faults_->drop_ratio) {
              chance = Chance::drop;
              ++random_faults_->dropped;
            }
          }
        }
        if (chance == Chance::temporary_failure) {
          const std::string later = "451 4.3.0 try again later\r\n";
          open = co_await write_text(*s, later);
          continue;
        }
        if (chance == Chance::drop) {  // kept, but the client never hears so
          s->message.data = std::move(data);
          {
            std::lock_guard lock(mutex_);
            messages_.push_back(std::move(s->message));
          }
          received_.notify_all();
          fault = Fault{Fault::Action::drop, 0, ""};  // named: GCC 12 destroys a temporary in a co_await twice
          open = co_await apply_fault(*s, fault);
          continue;
        }
        if (options_.final_reply_delay.count() > 0) {
          {
            std::lock_guard lock(mutex_);
            peak_final_replies_pending_ = std::max(peak_final_replies_pending_, ++final_replies_pending_);
          }
          asio::steady_timer slow(io_, options_.final_reply_delay);
          co_await slow.async_wait(asio::as_tuple(asio::use_awaitable));
          std::lock_guard lock(mutex_);
          --final_replies_pending_;
        }
        s->message.data = std::move(data);
        {
          std::lock_guard lock(mutex_);
          messages_.push_back(std::move(s->message));
        }
        received_.notify_all();
        reply = "250 2.0.0 Queued\r\n";
      }
    } else if (verb == "RSET") {
      s->in_transaction = false;
      reply = "250 2.0.0 OK\r\n";
    } else if (verb == "NOOP") {
      reply = "250 2.0.0 OK\r\n";
    } else if (verb == "QUIT") {
      reply = "221 2.0.0 Bye\r\n";
      co_await write_text(*s, reply);
      break;
    } else {
      reply = "502 5.5.2 Command not recognized\r\n";
    }
    open = co_await write_text(*s, reply);
  }
  boost::system::error_code ignored;
  s->socket.close(ignored);
  sessions_.erase(s);
}

}  // namespace convene::testing
