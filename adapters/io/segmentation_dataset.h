#pragma once
// Reader for the on-disk segmentation layout shared by real (EndoVis18) and synthetic data:
// <root>/<image_dir>/NAME.<image_ext>, <root>/<label_dir>/NAME.<label_ext> (single channel, class ids,
// 255 = ignore; NAME may hold sub-folders, e.g. seq_1/frame000),
// <root>/<split>.txt (one NAME per line) and <root>/info.json {"classes": K, "label": [...]}.
#include <torch/types.h>
#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace jcas {

struct DatasetOptions {
  std::string root;                 // folder with img/, label/, *.txt, info.json
  std::string image_dir = "img";
  std::string label_dir = "label";  // EndoVis18 copy of the reference: "part/part_lbl"
  std::string image_ext = "png";    // Kvasir-SEG, CVC-ClinicDB: jpg images (with png masks); "": names carry theirs
  std::string label_ext = "png";
  int input_h = 0, input_w = 0;     // 0 = keep native size; else resize (bicubic image, nearest label)

  // The image and label file of a listed name.
  std::string image_file(const std::string& name) const;
  std::string label_file(const std::string& name) const;
};

struct Sample {
  std::string name;
  torch::Tensor image;  // float32 3xHxW, BGR, (x-128)/128 (the reference normalisation)
  torch::Tensor label;  // uint8 HxW (undefined tensor if the dataset was opened without labels)
};

// The class count and names of a dataset root, from its info.json.
struct DatasetInfo {
  int num_classes = 0;
  std::vector<std::string> class_names;
};
// Reads <root>/info.json; a missing or malformed file is a UserError naming it.
DatasetInfo read_dataset_info(const std::string& root);
// Reads <root>/<split>.txt: one name per line, blank lines and '#' comments skipped.
std::vector<std::string> read_split_list(const std::string& root, const std::string& split);
// The file of `name` inside `dir`: "." + ext is appended unless the name already ends with it (or
// ext is empty).
std::string sample_file(const std::string& dir, const std::string& name, const std::string& ext = "png");
// UserError unless `ext` is a bare file extension ("png", "jpg"; no dot, no '/').
void check_file_extension(const std::string& ext, const std::string& key);

class SegmentationDataset {
 public:
  // Reads <root>/<split>.txt and info.json, checks every listed file exists.
  // `with_labels` = false for unlabeled use (label files are then neither checked nor read).
  SegmentationDataset(DatasetOptions options, const std::string& split, bool with_labels = true);
  // Unlabelled images named explicitly (relative to root/image_dir; see image_files_in), for
  // `info`'s classes: images to predict rather than a dataset with lists.
  SegmentationDataset(DatasetOptions options, std::vector<std::string> names, DatasetInfo info);
  size_t size() const;
  const std::vector<std::string>& names() const;
  int num_classes() const;
  const std::vector<std::string>& class_names() const;
  // Loads, validates (size match, label values), resizes and optionally flips one sample.
  Sample get(size_t index, bool hflip = false) const;
  // Stacks samples: images Bx3xHxW float, labels BxHxW uint8 (all same size after resize).
  std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<size_t>& indices,
                                                const std::vector<bool>& hflip = {}) const;
  const DatasetOptions& options() const;
  bool with_labels() const { return with_labels_; }
  const std::string& split() const { return split_; }
  // Paths of one sample's files.
  std::string image_path(size_t index) const;
  std::string label_path(size_t index) const;
  // The validated label at native size (CV_8UC1), without resize or flip.
  cv::Mat read_label(size_t index) const;

 private:
  // Image (BGR) and label (empty without labels) decoded and resized to the input size; decoded
  // once per process (within a 1 GiB budget) and shared: never modify them.
  std::pair<cv::Mat, cv::Mat> decoded(size_t index) const;
  DatasetOptions options_;
  std::string split_;
  bool with_labels_;
  DatasetInfo info_;
  std::vector<std::string> names_;
};

// The image files (png, jpg, jpeg, bmp, tif, tiff; any case) under `folder`, recursively, as sorted
// paths relative to it with their extensions. UserError when the folder does not exist or holds none.
std::vector<std::string> image_files_in(const std::string& folder);
// Whether `file` is named as an image jcas reads: png, jpg/jpeg, bmp, tif/tiff, in any case.
bool has_image_extension(const std::filesystem::path& file);

// Reads a single-channel 8-bit label PNG whose values are < num_classes or 255; any problem is a
// UserError naming the file (`what` names its role in the message, e.g. "noisy label").
cv::Mat read_label_file(const std::string& path, int num_classes, const std::string& what = "label");

// BGR uint8 image (HxWx3) -> float32 3xHxW, (x-128)/128.
torch::Tensor image_to_tensor(const cv::Mat& bgr);
// The inverse: float 3xHxW normalised -> BGR uint8 (values clamped).
cv::Mat tensor_to_image(const torch::Tensor& image);
// CV_8UC1 label -> uint8 HxW tensor (a copy) and back.
torch::Tensor label_mat_to_tensor(const cv::Mat& label);
cv::Mat label_tensor_to_mat(const torch::Tensor& label);

// Fixed palette (BGR): 0 background black, 1 shaft, 2 wrist, 3 clasper, further classes from a
// fixed list, 255 ignore white. Used by every panel so colours mean the same everywhere.
std::array<uint8_t, 3> palette_color(int class_id);
// uint8 HxW label (tensor or CV_8UC1 Mat) -> BGR image with the palette.
cv::Mat label_to_color(const torch::Tensor& label);
cv::Mat label_to_color(const cv::Mat& label);

}  // namespace jcas
