#include "adapters/io/file_writes.h"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include <fstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/temporary_path.h"

namespace jcas {

void write_png(const std::filesystem::path& file, const cv::Mat& pixels) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  if (!cv::imwrite(file.string(), pixels,
                   {cv::IMWRITE_PNG_COMPRESSION, 3, cv::IMWRITE_PNG_STRATEGY, cv::IMWRITE_PNG_STRATEGY_DEFAULT}))
    throw UserError(fmt::format("cannot write '{}'", file.string()));
}

void write_text_file(const std::filesystem::path& file, const std::string& text) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  TemporaryPath tmp(file);
  {
    std::ofstream out(tmp.path(), std::ios::binary);
    out << text;
    if (!out.flush()) throw UserError(fmt::format("cannot write '{}'", file.string()));
  }
  tmp.commit();
}

}  // namespace jcas
