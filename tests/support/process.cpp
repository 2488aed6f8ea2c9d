#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace convene::testing {
namespace {

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int output_fd) {
  auto env_strings = merged_environment(env);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
    ::execve(args[0], args.data(), envp.data());
    std::_Exit(127);
  }
  return pid;
}

int decode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  char path[] = "/tmp/convene-cmd-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const pid_t pid = spawn(argv, env, fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fd);
  CommandResult result{decode(status), slurp(path)};
  ::unlink(path);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                           std::string log_path)
    : log_path_(std::move(log_path)) {
  const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
  pid_ = spawn(argv, env, fd);
  ::close(fd);
}

ChildProcess::~ChildProcess() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void ChildProcess::signal(int number) const { ::kill(pid_, number); }

std::optional<int> ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = decode(status);
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return std::nullopt;
}

std::string ChildProcess::log() const { return slurp(log_path_); }

std::string pg_script() { return CONVENE_SOURCE_DIR "/scripts/pg"; }

std::optional<long long> cpu_ticks(pid_t pid) {
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos || paren + 2 > stat.size()) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 2));  // from field 3 (state) on
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  if (f.size() < 13) return std::nullopt;
  return std::stoll(f[11]) + std::stoll(f[12]);  // fields 14 and 15
}


// ---- Helpers for the end-to-end tests (appended) ----

CommandResult run_command_with_timeout(const std::vector<std::string>& argv,
                                       const std::map<std::string, std::string>& env,
                                       std::chrono::milliseconds timeout) {
  char path[] = "/tmp/convene-cmd-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const pid_t pid = spawn(argv, env, fd);
  ::close(fd);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  bool killed = false;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CommandResult result{killed ? -1 : decode(status), slurp(path)};
  if (killed) result.output += "\n[killed: still running after " + std::to_string(timeout.count()) + " ms]\n";
  ::unlink(path);
  return result;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) { return slurp(path); }

void clear_convene_environment() {
  std::vector<std::string> names;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (entry.rfind("CONVENE_", 0) != 0) continue;
    if (entry.rfind("CONVENE_TEST_", 0) == 0 || entry.rfind("CONVENE_PG_", 0) == 0) continue;
    names.push_back(entry.substr(0, entry.find('=')));
  }
  for (const auto& name : names) ::unsetenv(name.c_str());
}

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base == '/' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = buffer.data();
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::string joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
  return out;
}
}  // namespace

CommandResult PgCluster::pg(const std::vector<std::string>& args, bool fast) const {
  std::vector<std::string> argv{pg_script()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> env;
  if (fast) env.emplace("CONVENE_PG_FAST", "1");
  return run_command_with_timeout(argv, env, std::chrono::seconds(120));
}

PgCluster::PgCluster(std::string dir) : dir_(std::move(dir)) {
  const auto init = pg({"init", dir_});
  if (init.exit_code != 0) throw std::runtime_error("scripts/pg init " + dir_ + " failed:\n" + init.output);
  port_ = free_port();
  start();
}

PgCluster::~PgCluster() {
  try {
    pg({"stop", dir_});
  } catch (...) {
  }
}

std::string PgCluster::password() const {
  std::string p = slurp(dir_ + "/password");
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
  return p;
}

std::string PgCluster::url(const std::string& database) const {
  return "postgresql://convene:" + password() + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

void PgCluster::start() const {
  const auto r = pg({"start", dir_, std::to_string(port_)}, true);
  if (r.exit_code != 0) throw std::runtime_error("scripts/pg start " + dir_ + " failed:\n" + r.output);
}

void PgCluster::stop() const {
  const auto r = pg({"stop", dir_});
  if (r.exit_code != 0) throw std::runtime_error("scripts/pg stop " + dir_ + " failed:\n" + r.output);
}

void PgCluster::createdb(const std::string& name) const {
  const auto r = pg({"createdb", dir_, std::to_string(port_), name});
  if (r.exit_code != 0) throw std::runtime_error("scripts/pg createdb " + name + " failed:\n" + r.output);
}

std::string PgCluster::query(const std::string& database, const std::string& sql) const {
  const std::vector<std::string> argv{"/usr/bin/psql", url(database), "-X", "-A", "-t", "-q",
                                      "-v",            "ON_ERROR_STOP=1", "-c", sql};
  const auto r = run_command_with_timeout(argv, {{"PGCONNECT_TIMEOUT", "10"}}, std::chrono::seconds(60));
  if (r.exit_code != 0) throw std::runtime_error("psql " + joined({database, sql}) + " failed:\n" + r.output);
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace convene::testing
