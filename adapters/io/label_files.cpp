#include "adapters/io/label_files.h"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "adapters/foundation/error.h"
#include "adapters/io/dataset_check.h"
#include "adapters/io/file_writes.h"
#include "adapters/io/segmentation_dataset.h"

namespace jcas {

void write_label_files(const torch::Tensor& label, const std::string& image_file, const std::filesystem::path& ids_file,
                       const std::filesystem::path& color_file) {
  cv::Mat ids = label_tensor_to_mat(label);
  const auto [h, w] = image_file_size(image_file);
  if (ids.rows != h || ids.cols != w) cv::resize(ids, ids, cv::Size(w, h), 0, 0, cv::INTER_NEAREST);
  write_png(ids_file, ids);
  if (!color_file.empty()) write_png(color_file, label_to_color(ids));
}

}  // namespace jcas
