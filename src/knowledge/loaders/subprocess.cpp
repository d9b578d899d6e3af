#include "knowledge/loaders/subprocess.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace aas::knowledge::loaders {
namespace {

constexpr int exec_failed = 127;

int wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

Result<ProcessResult> run_process(const std::vector<std::string>& argv, const ProcessLimits& limits) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return make_error(errc::unavailable, "could not start the document converter", std::strerror(errno));
  const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  const pid_t parent = getpid();
  // Between fork and exec the child only makes async-signal-safe calls (the service has threads).
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(out[0]), close(out[1]);
    if (devnull >= 0) close(devnull);
    return make_error(errc::unavailable, "could not start the document converter", std::strerror(e));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the service
    if (getppid() != parent) _exit(exec_failed);
    setpgid(0, 0);
    const rlimit mem{limits.max_memory, limits.max_memory};
    const rlimit cpu{limits.cpu_seconds, limits.cpu_seconds + 1};
    const rlimit no_files{0, 0};
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_AS, &mem);
    setrlimit(RLIMIT_CPU, &cpu);
    setrlimit(RLIMIT_FSIZE, &no_files);  // writes to regular files fail; the pipe is not one
    setrlimit(RLIMIT_CORE, &no_core);
    dup2(devnull, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
    close_range(3, ~0u, 0);  // none of the service's sockets or files
    execvp(args[0], args.data());
    _exit(exec_failed);
  }
  close(out[1]);
  if (devnull >= 0) close(devnull);

  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  char buf[64 * 1024];
  bool killed = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1'000'000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.out.append(buf, static_cast<std::size_t>(n));
    if (result.out.size() > limits.max_output) {
      result.output_too_large = true;
      break;
    }
  }
  close(out[0]);
  if (result.timed_out || result.output_too_large) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    killed = true;
  }
  result.exit_code = wait_child(pid);
  if (!killed && result.exit_code == exec_failed) {
    return make_error(errc::unavailable, "the document converter is not installed on the server",
                      "could not run " + argv.front());
  }
  return result;
}

}  // namespace aas::knowledge::loaders
