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
// One round's NTMs (T_C estimated, true, learned; T_C->A, T_A true, learned) as small heatmaps
// side by side, one SVG; "" where the round has no pseudo labels. The Markdown report links it
// as ntm_round<r>.svg next to report.md, the HTML page inlines it.
std::string ntm_heatmaps_svg(const RoundSummary& round);
std::string ntm_heatmaps_file(int round);

}  // namespace jcas
