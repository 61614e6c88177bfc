#pragma once
// What a stage reads of a dataset, as a value: its files (whose contents the stage's fingerprint
// covers) and the checks that run before anything is computed, so that a missing or broken file
// is reported at once rather than after minutes of training.
#include <filesystem>
#include <string>
#include <vector>

#include "adapters/io/segmentation_dataset.h"

namespace jcas {

struct DatasetRead {
  DatasetOptions dataset;
  std::string split;
  bool with_labels = true;
  std::string label() const;  // "<root>:<split>" (+ " with labels"), for messages
};

// The files a read depends on: the list file, info.json and every listed image (and label), in
// list order. Without a readable list only the list file and info.json.
std::vector<std::filesystem::path> dataset_files(const DatasetRead& read);

// Height x width from an image file's header (PNG and JPEG without decoding; other formats are
// decoded). UserError naming the file when it is unreadable.
std::pair<int, int> image_file_size(const std::filesystem::path& file);

// Checks a read: info.json, the list (names inside the root), every listed file present with a
// readable header, and each label the size of its image. UserError naming the file.
void validate_dataset_read(const DatasetRead& read);

}  // namespace jcas
