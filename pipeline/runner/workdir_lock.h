#pragma once
// One writer per work directory: a run holds an advisory lock (flock) on WORKDIR/.jcas/lock for
// its lifetime; the kernel releases it when the process ends, however it ends. Readers (status,
// compare, inspect) take no lock.
#include <filesystem>

namespace jcas {

class WorkdirLock {
 public:
  // Takes the lock. Held by another process: with `wait`, waits for it (saying so once);
  // otherwise a UserError naming the holder's process id. Then removes the temporaries that
  // dead runs left in the work directory.
  WorkdirLock(const std::filesystem::path& workdir, bool wait);
  ~WorkdirLock();
  WorkdirLock(const WorkdirLock&) = delete;
  WorkdirLock& operator=(const WorkdirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace jcas
