#include "adapters/io/dataset_check.h"

#include <fmt/format.h>

#include <array>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "adapters/foundation/error.h"

namespace jcas {
namespace fs = std::filesystem;

std::string DatasetRead::label() const {
  return fmt::format("{}:{}{}", dataset.root, split, with_labels ? " with labels" : "");
}

std::vector<fs::path> dataset_files(const DatasetRead& read) {
  const fs::path root = read.dataset.root;
  std::vector<fs::path> files = {root / (read.split + ".txt"), root / "info.json"};
  std::vector<std::string> names;
  try {
    names = read_split_list(read.dataset.root, read.split);
  } catch (const UserError&) {
    return files;  // the list's own digest ("missing") says it all
  }
  for (const auto& name : names) {
    files.emplace_back(read.dataset.image_file(name));
    if (read.with_labels) files.emplace_back(read.dataset.label_file(name));
  }
  return files;
}

namespace {

uint32_t big_endian(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

// PNG: width and height are the first fields of the IHDR chunk.
bool png_size(std::ifstream& in, std::pair<int, int>& hw) {
  std::array<unsigned char, 24> head{};
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(head.data()), head.size())) return false;
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!std::equal(sig, sig + 8, head.begin()) || std::string(head.begin() + 12, head.begin() + 16) != "IHDR")
    return false;
  hw = {static_cast<int>(big_endian(&head[20], 4)), static_cast<int>(big_endian(&head[16], 4))};
  return true;
}

// JPEG: walk the marker segments to the first start-of-frame.
bool jpeg_size(std::ifstream& in, std::pair<int, int>& hw) {
  unsigned char b[2];
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(b), 2) || b[0] != 0xFF || b[1] != 0xD8) return false;
  while (in.read(reinterpret_cast<char*>(b), 2)) {
    if (b[0] != 0xFF) return false;
    const unsigned char marker = b[1];
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    unsigned char len[2];
    if (!in.read(reinterpret_cast<char*>(len), 2)) return false;
    const uint32_t length = big_endian(len, 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      unsigned char f[5];
      if (!in.read(reinterpret_cast<char*>(f), 5)) return false;
      hw = {static_cast<int>(big_endian(&f[1], 2)), static_cast<int>(big_endian(&f[3], 2))};
      return hw.first > 0 && hw.second > 0;
    }
    if (length < 2) return false;
    in.seekg(length - 2, std::ios::cur);
  }
  return false;
}

}  // namespace

std::pair<int, int> image_file_size(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open '{}'", file.string()));
  std::pair<int, int> hw;
  if (png_size(in, hw) || (in.clear(), jpeg_size(in, hw))) return hw;
  cv::Mat m = cv::imread(file.string(), cv::IMREAD_UNCHANGED);
  if (m.empty()) throw UserError(fmt::format("cannot read '{}' (not an image?)", file.string()));
  return {m.rows, m.cols};
}

void validate_dataset_read(const DatasetRead& read) {
  read_dataset_info(read.dataset.root);
  const auto names = read_split_list(read.dataset.root, read.split);  // refuses names leaving the root
  for (const auto& name : names) {
    const fs::path image = read.dataset.image_file(name);
    if (!fs::is_regular_file(image)) throw UserError(fmt::format("missing image file '{}'", image.string()));
    const auto image_hw = image_file_size(image);
    if (!read.with_labels) continue;
    const fs::path label = read.dataset.label_file(name);
    if (!fs::is_regular_file(label)) throw UserError(fmt::format("missing label file '{}'", label.string()));
    const auto label_hw = image_file_size(label);
    if (label_hw != image_hw)
      throw UserError(fmt::format("label file '{}' is {}x{} but its image '{}' is {}x{} (HxW)", label.string(),
                                  label_hw.first, label_hw.second, image.string(), image_hw.first, image_hw.second));
  }
}

}  // namespace jcas
