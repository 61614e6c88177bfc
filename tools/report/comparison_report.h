#pragma once
// The round comparison as a terminal table, a Markdown file and a self-contained HTML page
// (panels embedded as data URIs, plots as inline SVG).
#include <filesystem>
#include <string>
#include <vector>

#include "tools/report/round_comparison.h"

namespace jcas {

std::string comparison_table_text(const RoundComparison& cmp);
std::string comparison_markdown(const RoundComparison& cmp, const std::vector<std::filesystem::path>& panels,
                                const std::filesystem::path& report_dir);
std::string comparison_html(const RoundComparison& cmp, const std::vector<std::filesystem::path>& panels);

}  // namespace jcas
