#pragma once
// PNG panels for `jcas compare`: per image the image, its ground truth, the pseudo labels of each
// round and the pixels that changed between consecutive rounds, with a palette legend.
#include <filesystem>
#include <string>
#include <vector>

#include "adapters/io/segmentation_dataset.h"
#include "tools/report/round_comparison.h"

namespace jcas {

// The `count` images whose pseudo labels changed most between the first and last round shown
// (with one round: that disagree most with ground truth, else the first ones).
std::vector<std::string> images_with_largest_change(const RoundComparison& cmp, const std::vector<torch::Tensor>& truth,
                                                    size_t count);

// Writes DIR/panel_NAME.png for each image; returns the files written.
std::vector<std::filesystem::path> write_label_panels(const RoundComparison& cmp, const SegmentationDataset& images,
                                                      const std::vector<std::string>& names,
                                                      const std::filesystem::path& dir);

}  // namespace jcas
