#pragma once
// Writing files of a dataset or report, each failure one UserError naming the file.
#include <opencv2/core.hpp>

#include <filesystem>
#include <string>

namespace jcas {

// Writes `pixels` as PNG with fixed compression settings (the bytes depend only on the pixels),
// creating parent folders.
void write_png(const std::filesystem::path& file, const cv::Mat& pixels);
// Writes `text` as the whole file, creating parent folders; under a temporary name renamed when
// complete, so a reader never sees half a file (reports, records other processes read).
void write_text_file(const std::filesystem::path& file, const std::string& text);

}  // namespace jcas
