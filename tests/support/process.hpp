#pragma once
// Child processes and ports for end-to-end tests.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace convene::testing {

// A free TCP port on 127.0.0.1 (bound to port 0, then released).
int free_port();

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr together
};

// Runs a command to completion; `env` entries are added to (or replace) the environment.
CommandResult run_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

// A long-running child whose stdout+stderr go to a file; killed (SIGKILL) if still running
// when destroyed.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int number) const;
  // The exit status if the child exited within `timeout`; nullopt otherwise. -1 when it was
  // killed by a signal.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
  std::string log() const;  // what it printed so far

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// The project's scripts/pg helper (private clusters).
std::string pg_script();

// utime + stime of a process, in clock ticks (sysconf(_SC_CLK_TCK) a second), from
// /proc/PID/stat; nullopt when it cannot be read.
std::optional<long long> cpu_ticks(pid_t pid);


// ---- Helpers for the end-to-end tests (appended) ----

// Like run_command, but kills the command (SIGKILL) when it runs longer than `timeout`; the
// output then ends with a note saying so and exit_code is -1.
CommandResult run_command_with_timeout(const std::vector<std::string>& argv,
                                       const std::map<std::string, std::string>& env,
                                       std::chrono::milliseconds timeout);

// Polls `condition` every `interval` until it holds (true) or `timeout` passes (false).
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50));

void write_file(const std::string& path, const std::string& content);
std::string read_file(const std::string& path);

// Removes CONVENE_* variables that convened would read from this process's environment (so
// a developer's shell cannot leak settings into the children); keeps CONVENE_TEST_* and
// CONVENE_PG_*.
void clear_convene_environment();

// A fresh directory under $TMPDIR (or /tmp), mode 0755 so that the 'postgres' user can
// traverse it; removed recursively when destroyed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "convene-e2e");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A private PostgreSQL cluster in `dir` (created with scripts/pg init, started with
// CONVENE_PG_FAST=1 on a free port). Stopped when destroyed; `dir` itself is left to its owner.
class PgCluster {
 public:
  explicit PgCluster(std::string dir);  // throws std::runtime_error with scripts/pg's output
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string password() const;
  // postgresql://convene:PASSWORD@127.0.0.1:PORT/DATABASE
  std::string url(const std::string& database = "convene") const;
  void start() const;  // on the same port; throws on failure
  void stop() const;   // fast shutdown; throws on failure
  void createdb(const std::string& name) const;
  // psql -XAtq -v ON_ERROR_STOP=1 -c SQL against `database`; throws when psql fails.
  std::string query(const std::string& database, const std::string& sql) const;

 private:
  CommandResult pg(const std::vector<std::string>& args, bool fast = false) const;
  std::string dir_;
  int port_ = 0;
};

}  // namespace convene::testing
