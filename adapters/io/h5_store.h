#pragma once
// HDF5 files of named tensors with attributes: the toolkit's cache format.
//
// Writes go to a temporary beside the path (adapters/foundation/temporary_path.h) that commit()
// renames into place, so a crash never leaves a file that looks complete; or, for a process that
// computes what another commits, to memory only. Reads validate and turn every HDF5 failure into a UserError naming
// the file and the object.
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace jcas {

using H5Attr = std::variant<int64_t, double, std::string, std::vector<double>, std::vector<int64_t>>;

class H5Writer {
 public:
  // `file`: a temporary file, committed to `final_path`; `memory`: nothing reaches the disk (a
  // data-parallel run's ranks other than 0 compute results rank 0 commits) and commit() is refused.
  enum class Target { file, memory };
  explicit H5Writer(std::filesystem::path final_path, Target target = Target::file);
  ~H5Writer();  // an uncommitted file is removed
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  // `name` may contain '/' (groups are created). Tensors are stored contiguous on CPU, in their
  // dtype (float32/64, uint8, int32/64, bool as uint8). `axes` becomes an attribute if given.
  void write(const std::string& name, const torch::Tensor& tensor, const std::string& axes = "");
  // Attribute on an object ("/" = the file, or a dataset/group written before).
  void attr(const std::string& object, const std::string& key, const H5Attr& value);
  void commit();
  const std::filesystem::path& path() const { return final_path_; }

 private:
  std::filesystem::path final_path_, tmp_path_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class H5Reader {
 public:
  // Throws UserError if the file is missing or not a readable HDF5 file.
  explicit H5Reader(std::filesystem::path path);
  ~H5Reader();
  H5Reader(H5Reader&&) noexcept;

  bool has(const std::string& name) const;
  torch::Tensor read(const std::string& name) const;  // UserError if absent or unreadable
  bool has_attr(const std::string& object, const std::string& key) const;
  H5Attr attr(const std::string& object, const std::string& key) const;
  std::string attr_string(const std::string& object, const std::string& key) const;
  double attr_double(const std::string& object, const std::string& key) const;  // ints convert
  int64_t attr_int(const std::string& object, const std::string& key) const;
  std::vector<std::string> attr_names(const std::string& object) const;
  // Children of a group ("/" = root), sorted.
  std::vector<std::string> list(const std::string& group = "/") const;
  bool is_group(const std::string& name) const;
  // Shape and dtype name ("float32", "uint8", ...) without reading the data.
  std::pair<std::vector<int64_t>, std::string> describe(const std::string& name) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jcas
