#pragma once
// Temporary files and folders beside their final path, unique to the writing process
// ("<final>.<host>-<pid>.tmp": processes of several machines or containers may share a work
// directory and a pid), and renamed into place only when complete. A temporary left by a process
// of this host that died is recognised by its dead pid and removed.
#include <filesystem>

namespace jcas {

// "<final>.<host>-<pid>.tmp" for this process.
std::filesystem::path temporary_path(const std::filesystem::path& final_path);

// A temporary file or folder for `final_path`, removed on destruction unless committed.
class TemporaryPath {
 public:
  explicit TemporaryPath(std::filesystem::path final_path);
  ~TemporaryPath();
  TemporaryPath(const TemporaryPath&) = delete;
  TemporaryPath& operator=(const TemporaryPath&) = delete;
  const std::filesystem::path& path() const { return tmp_; }
  // Replaces `final_path` (a folder is replaced as a whole) by the temporary.
  void commit();

 private:
  std::filesystem::path final_, tmp_;
  bool committed_ = false;
};

// Removes the temporaries under `dir` (recursively) whose writing process ran on this host and is
// no longer running, and those of the older forms ("<final>.<pid>.tmp" as this host's,
// "<final>.tmp"). Another host's temporaries are left alone. Returns how many were removed.
int remove_stale_temporaries(const std::filesystem::path& dir);

}  // namespace jcas
