#pragma once
// Content digests of files (XXH3, 64 bit), memoised by (path, size, modification time) in a table
// file, so that a re-run of a cached pipeline over thousands of images only stats them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace jcas {

class FileDigests {
 public:
  // `table`: where the memo is kept between runs (empty: in memory only). A missing or unreadable
  // table is an empty memo.
  explicit FileDigests(std::filesystem::path table = {});
  ~FileDigests();  // saves the memo if it changed (errors are ignored: it is only a cache)
  FileDigests(const FileDigests&) = delete;
  FileDigests& operator=(const FileDigests&) = delete;

  // 16 hex digits of the file's contents; "missing" when there is no such file.
  std::string digest(const std::filesystem::path& file);
  // One digest of several files: their names (relative to `root`) and digests, in order.
  std::string combined(const std::filesystem::path& root, const std::vector<std::filesystem::path>& files);
  void save();

 private:
  struct Entry {
    uintmax_t size = 0;
    int64_t mtime = 0;
    std::string digest;
  };
  std::filesystem::path table_;
  std::map<std::string, Entry> memo_;
  bool dirty_ = false;
};

}  // namespace jcas
