#pragma once
// Label maps written as image files for tools outside jcas: class ids at the size of the image
// they label (pseudo labels, predictions), optionally with a colourised copy.
#include <torch/types.h>

#include <filesystem>
#include <string>

namespace jcas {

// Writes uint8 H x W class ids as `ids_file` (CV_8UC1 PNG), resized (nearest) to the size of
// `image_file`, and, if `color_file` is not empty, the palette colouring of the same map.
// Parent folders are created; a write failure is a UserError naming the file.
void write_label_files(const torch::Tensor& label, const std::string& image_file, const std::filesystem::path& ids_file,
                       const std::filesystem::path& color_file = {});

}  // namespace jcas
