#include "adapters/io/segmentation_dataset.h"

#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <sstream>

#include "adapters/foundation/error.h"

namespace fs = std::filesystem;

namespace jcas {

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read '{}'", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void require_root(const std::string& root) {
  if (root.empty()) throw UserError("dataset root is empty (give the folder with img/, label/, info.json)");
  if (!fs::is_directory(root)) throw UserError(fmt::format("dataset root '{}' is not a folder", root));
}

}  // namespace

DatasetInfo read_dataset_info(const std::string& root) {
  require_root(root);
  const fs::path path = fs::path(root) / "info.json";
  if (!fs::is_regular_file(path))
    throw UserError(fmt::format("missing '{}' (expected {{\"classes\": K, \"label\": [names]}})", path.string()));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw UserError(fmt::format("'{}': not valid JSON ({})", path.string(), e.what()));
  }
  if (!j.is_object() || !j.contains("classes") || !j["classes"].is_number_integer())
    throw UserError(fmt::format("'{}': no integer \"classes\" entry", path.string()));
  DatasetInfo info;
  const int64_t classes = j["classes"].get<int64_t>();
  if (classes < 2 || classes > 255)
    throw UserError(fmt::format("'{}': \"classes\" must be in 2..255, got {}", path.string(), classes));
  info.num_classes = static_cast<int>(classes);
  if (j.contains("label")) {
    const auto& names = j["label"];
    if (!names.is_array()) throw UserError(fmt::format("'{}': \"label\" must be a list of names", path.string()));
    for (const auto& n : names) {
      if (!n.is_string()) throw UserError(fmt::format("'{}': \"label\" must be a list of names", path.string()));
      info.class_names.push_back(n.get<std::string>());
    }
    if (static_cast<int>(info.class_names.size()) != info.num_classes)
      throw UserError(fmt::format("'{}': \"label\" names {} classes but \"classes\" is {}", path.string(),
                                  info.class_names.size(), info.num_classes));
  } else {
    for (int c = 0; c < info.num_classes; ++c) info.class_names.push_back(fmt::format("class{}", c));
  }
  return info;
}

std::vector<std::string> read_split_list(const std::string& root, const std::string& split) {
  require_root(root);
  const fs::path path = fs::path(root) / (split + ".txt");
  if (!fs::is_regular_file(path)) throw UserError(fmt::format("missing list file '{}'", path.string()));
  std::istringstream in(read_text(path));
  std::vector<std::string> names;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto b = line.find_first_not_of(" \t\r\n");
    if (b == std::string::npos || line[b] == '#') continue;
    auto e = line.find_last_not_of(" \t\r\n");
    const std::string name = line.substr(b, e - b + 1);
    // A name is a path inside the dataset: never absolute, never climbing out with "..".
    const fs::path p(name);
    bool climbs = false;
    for (const auto& part : p) climbs = climbs || part == "..";
    if (p.is_absolute() || climbs)
      throw UserError(fmt::format("'{}' line {}: name '{}' leaves the dataset folder", path.string(), number, name));
    names.push_back(name);
  }
  if (names.empty()) throw UserError(fmt::format("list file '{}' names no images", path.string()));
  return names;
}

std::string sample_file(const std::string& dir, const std::string& name, const std::string& ext) {
  fs::path p = fs::path(dir) / name;
  if (ext.empty()) return p.string();
  const std::string suffix = "." + ext;
  const bool has_suffix = name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (!has_suffix) p += suffix;
  return p.string();
}

void check_file_extension(const std::string& ext, const std::string& key) {
  if (ext.empty() || ext.front() == '.' || ext.find('/') != std::string::npos)
    throw UserError(fmt::format("{}: a file extension without the dot (png, jpg), got '{}'", key, ext));
}

std::string DatasetOptions::image_file(const std::string& name) const {
  return sample_file((fs::path(root) / image_dir).string(), name, image_ext);
}
std::string DatasetOptions::label_file(const std::string& name) const {
  return sample_file((fs::path(root) / label_dir).string(), name, label_ext);
}

SegmentationDataset::SegmentationDataset(DatasetOptions options, const std::string& split, bool with_labels)
    : options_(std::move(options)), split_(split), with_labels_(with_labels) {
  if (options_.input_h < 0 || options_.input_w < 0 || (options_.input_h == 0) != (options_.input_w == 0))
    throw UserError(fmt::format("dataset input size {}x{}: give both sides > 0, or 0x0 for the native size",
                                options_.input_h, options_.input_w));
  check_file_extension(options_.image_ext, "image extension");
  check_file_extension(options_.label_ext, "label extension");
  info_ = read_dataset_info(options_.root);
  names_ = read_split_list(options_.root, split);
  // Existence is cheap to check up front, so a typo fails now rather than mid-training.
  for (size_t i = 0; i < names_.size(); ++i) {
    if (!fs::is_regular_file(image_path(i))) throw UserError(fmt::format("missing image file '{}'", image_path(i)));
    if (with_labels_ && !fs::is_regular_file(label_path(i)))
      throw UserError(fmt::format("missing label file '{}'", label_path(i)));
  }
}

SegmentationDataset::SegmentationDataset(DatasetOptions options, std::vector<std::string> names, DatasetInfo info)
    : options_(std::move(options)), split_("images"), with_labels_(false), info_(std::move(info)), names_(std::move(names)) {}

bool has_image_extension(const fs::path& file) {
  static const std::set<std::string> kinds = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"};
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return kinds.count(ext) > 0;
}

std::vector<std::string> image_files_in(const std::string& folder) {
  if (!fs::is_directory(folder)) throw UserError(fmt::format("image folder '{}' does not exist", folder));
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(folder))
    if (entry.is_regular_file() && has_image_extension(entry.path()))
      names.push_back(fs::relative(entry.path(), folder).generic_string());
  if (names.empty()) throw UserError(fmt::format("image folder '{}' holds no png/jpg/bmp/tif images", folder));
  std::sort(names.begin(), names.end());
  return names;
}

size_t SegmentationDataset::size() const { return names_.size(); }
const std::vector<std::string>& SegmentationDataset::names() const { return names_; }
int SegmentationDataset::num_classes() const { return info_.num_classes; }
const std::vector<std::string>& SegmentationDataset::class_names() const { return info_.class_names; }
const DatasetOptions& SegmentationDataset::options() const { return options_; }

std::string SegmentationDataset::image_path(size_t index) const { return options_.image_file(names_.at(index)); }
std::string SegmentationDataset::label_path(size_t index) const { return options_.label_file(names_.at(index)); }

cv::Mat read_label_file(const std::string& path, int num_classes, const std::string& what) {
  if (!fs::exists(path)) throw UserError(fmt::format("{} file '{}' does not exist", what, path));
  cv::Mat label = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (label.empty()) throw UserError(fmt::format("cannot read {} file '{}' (not an image?)", what, path));
  if (label.channels() != 1 || label.depth() != CV_8U)
    throw UserError(fmt::format("{} file '{}' must be a single-channel 8-bit image, got {} channel(s) of depth {}",
                                what, path, label.channels(), label.depth()));
  // Values >= K other than the ignore value would silently index past the classes in the losses.
  for (int y = 0; y < label.rows; ++y) {
    const uint8_t* row = label.ptr<uint8_t>(y);
    for (int x = 0; x < label.cols; ++x)
      if (row[x] >= num_classes && row[x] != 255)
        throw UserError(fmt::format("{} file '{}' has value {} at (row {}, col {}); classes are 0..{} (255 = ignore)",
                                    what, path, row[x], y, x, num_classes - 1));
  }
  return label;
}

cv::Mat SegmentationDataset::read_label(size_t index) const {
  return read_label_file(label_path(index), info_.num_classes);
}

namespace {

// Decoded, resized samples, kept for the process so that training epochs and later stages do not
// decode and resize the same PNGs again. Keyed by the files (with size and modification time, so
// a file changed on disk is read again) and the input size; filled until the budget is used, then
// further samples are decoded each time. The cached matrices are never modified.
class DecodedSamples {
 public:
  static DecodedSamples& instance() {
    static DecodedSamples cache;
    return cache;
  }
  bool find(const std::string& key, cv::Mat& image, cv::Mat& label) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    image = it->second.first;
    label = it->second.second;
    return true;
  }
  void add(const std::string& key, const cv::Mat& image, const cv::Mat& label) {
    const size_t bytes = image.total() * image.elemSize() + label.total() * label.elemSize();
    std::lock_guard<std::mutex> lock(mutex_);
    if (used_ + bytes > kBudget) return;
    if (entries_.emplace(key, std::make_pair(image, label)).second) used_ += bytes;
  }

 private:
  static constexpr size_t kBudget = size_t{1} << 30;  // 1 GiB of decoded pixels
  std::mutex mutex_;
  std::unordered_map<std::string, std::pair<cv::Mat, cv::Mat>> entries_;
  size_t used_ = 0;
};

std::string file_key(const std::string& path) {
  std::error_code ec;
  return fmt::format("{}|{}|{}", path, fs::file_size(path, ec), fs::last_write_time(path, ec).time_since_epoch().count());
}

}  // namespace

std::pair<cv::Mat, cv::Mat> SegmentationDataset::decoded(size_t index) const {
  const std::string ipath = image_path(index);
  const std::string key = fmt::format("{}#{}#{}x{}", file_key(ipath), with_labels_ ? file_key(label_path(index)) : "",
                                      options_.input_h, options_.input_w);
  cv::Mat image, label;
  if (DecodedSamples::instance().find(key, image, label)) return {image, label};
  image = cv::imread(ipath, cv::IMREAD_COLOR);  // always 3-channel BGR
  if (image.empty()) throw UserError(fmt::format("cannot read image file '{}' (not an image?)", ipath));
  if (with_labels_) {
    label = read_label(index);
    if (label.size() != image.size())
      throw UserError(fmt::format("label file '{}' is {}x{} but its image '{}' is {}x{} (HxW)", label_path(index),
                                  label.rows, label.cols, ipath, image.rows, image.cols));
  }
  if (options_.input_h > 0) {
    const cv::Size size(options_.input_w, options_.input_h);
    if (image.size() != size) {
      cv::resize(image, image, size, 0, 0, cv::INTER_CUBIC);
      if (!label.empty()) cv::resize(label, label, size, 0, 0, cv::INTER_NEAREST);
    }
  }
  DecodedSamples::instance().add(key, image, label);
  return {image, label};
}

Sample SegmentationDataset::get(size_t index, bool hflip) const {
  if (index >= names_.size())
    throw std::out_of_range(fmt::format("sample {} of a dataset with {}", index, names_.size()));
  Sample s;
  s.name = names_[index];
  auto [image, label] = decoded(index);
  if (hflip) {  // into new matrices: the decoded ones may be shared
    cv::Mat flipped_image, flipped_label;
    cv::flip(image, flipped_image, 1);
    if (!label.empty()) cv::flip(label, flipped_label, 1);
    image = flipped_image;
    label = flipped_label;
  }
  s.image = image_to_tensor(image);
  if (!label.empty()) s.label = label_mat_to_tensor(label);
  return s;
}

std::pair<torch::Tensor, torch::Tensor> SegmentationDataset::batch(const std::vector<size_t>& indices,
                                                                   const std::vector<bool>& hflip) const {
  if (indices.empty()) throw std::invalid_argument("SegmentationDataset::batch: no indices");
  if (!hflip.empty() && hflip.size() != indices.size())
    throw std::invalid_argument("SegmentationDataset::batch: hflip must be empty or match indices");
  std::vector<torch::Tensor> images, labels;
  for (size_t i = 0; i < indices.size(); ++i) {
    Sample s = get(indices[i], !hflip.empty() && hflip[i]);
    if (!images.empty() && s.image.sizes() != images.front().sizes())
      throw UserError(fmt::format("images '{}' and '{}' differ in size; set an input size to batch them",
                                  image_path(indices[0]), image_path(indices[i])));
    images.push_back(s.image);
    if (s.label.defined()) labels.push_back(s.label);
  }
  return {torch::stack(images), labels.empty() ? torch::Tensor() : torch::stack(labels)};
}

torch::Tensor image_to_tensor(const cv::Mat& bgr) {
  if (bgr.type() != CV_8UC3) throw std::invalid_argument("image_to_tensor: expected an 8-bit 3-channel image");
  cv::Mat f;
  bgr.convertTo(f, CV_32FC3, 1.0 / 128.0, -1.0);  // (x - 128) / 128
  auto t = torch::from_blob(f.data, {f.rows, f.cols, 3}, torch::kFloat32);
  return t.permute({2, 0, 1}).contiguous();  // contiguous() copies out of the Mat's buffer
}

cv::Mat tensor_to_image(const torch::Tensor& image) {
  if (image.dim() != 3 || image.size(0) != 3) throw std::invalid_argument("tensor_to_image: expected 3xHxW");
  auto t = (image.detach().to(torch::kCPU, torch::kFloat32) * 128.0 + 128.0)
               .round()
               .clamp(0, 255)
               .to(torch::kUInt8)
               .permute({1, 2, 0})
               .contiguous();
  cv::Mat out(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC3);
  std::memcpy(out.data, t.data_ptr<uint8_t>(), t.numel());
  return out;
}

torch::Tensor label_mat_to_tensor(const cv::Mat& label) {
  if (label.type() != CV_8UC1) throw std::invalid_argument("label_mat_to_tensor: expected CV_8UC1");
  cv::Mat c = label.isContinuous() ? label : label.clone();
  return torch::from_blob(c.data, {c.rows, c.cols}, torch::kUInt8).clone();
}

cv::Mat label_tensor_to_mat(const torch::Tensor& label) {
  if (label.dim() != 2) throw std::invalid_argument("label_tensor_to_mat: expected HxW");
  auto t = label.detach().to(torch::kCPU, torch::kUInt8).contiguous();
  cv::Mat out(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC1);
  std::memcpy(out.data, t.data_ptr<uint8_t>(), t.numel());
  return out;
}

std::array<uint8_t, 3> palette_color(int class_id) {
  // BGR. Shaft blue, wrist yellow, clasper magenta: distinct also for red-green colour blindness.
  static const std::array<std::array<uint8_t, 3>, 10> colors = {{{0, 0, 0},
                                                                 {255, 140, 30},
                                                                 {0, 215, 255},
                                                                 {200, 40, 230},
                                                                 {60, 200, 60},
                                                                 {40, 80, 255},
                                                                 {255, 255, 0},
                                                                 {120, 120, 255},
                                                                 {128, 128, 0},
                                                                 {0, 128, 128}}};
  if (class_id == 255) return {255, 255, 255};
  if (class_id >= 0 && class_id < static_cast<int>(colors.size())) return colors[class_id];
  // Beyond the list: a fixed hash so the colour is still stable.
  const uint32_t h = static_cast<uint32_t>(class_id) * 2654435761u;
  return {static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h >> 16), static_cast<uint8_t>(h >> 24)};
}

cv::Mat label_to_color(const cv::Mat& label) {
  if (label.type() != CV_8UC1) throw std::invalid_argument("label_to_color: expected CV_8UC1");
  cv::Mat lut(1, 256, CV_8UC3);
  for (int v = 0; v < 256; ++v) {
    auto c = palette_color(v);
    lut.at<cv::Vec3b>(0, v) = cv::Vec3b(c[0], c[1], c[2]);
  }
  cv::Mat label3, out;
  cv::cvtColor(label, label3, cv::COLOR_GRAY2BGR);
  cv::LUT(label3, lut, out);
  return out;
}

cv::Mat label_to_color(const torch::Tensor& label) { return label_to_color(label_tensor_to_mat(label)); }

}  // namespace jcas
