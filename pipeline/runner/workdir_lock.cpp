#include "pipeline/runner/workdir_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/temporary_path.h"

namespace jcas {
namespace {

std::string holder_of(int fd) {
  char buf[64] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  std::string text = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "unknown" : text;
}

}  // namespace

WorkdirLock::WorkdirLock(const std::filesystem::path& workdir, bool wait) {
  std::filesystem::create_directories(workdir / ".jcas");
  const auto path = workdir / ".jcas" / "lock";
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw UserError(fmt::format("cannot open the lock file {}: {}", path.string(), std::strerror(errno)));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = holder_of(fd_);
    if (!wait) {
      close(fd_);
      throw UserError(fmt::format("work directory {} is in use by jcas process {}; wait for it to finish, or pass "
                                  "--wait",
                                  workdir.string(), holder));
    }
    log::info("work directory {} is in use by jcas process {}: waiting", workdir.string(), holder);
    while (flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw UserError(fmt::format("cannot lock {}: {}", path.string(), std::strerror(errno)));
      check_interrupted();
    }
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) < 0)
    log::debug("could not record the pid in {}", path.string());
  if (int n = remove_stale_temporaries(workdir)) log::info("removed {} temporary file(s) left by stopped runs", n);
}

WorkdirLock::~WorkdirLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

}  // namespace jcas
