#include <cstdio>
#include <fstream>
#include <sstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "tools/report/comparison_report.h"
#include "tools/report/label_panels.h"
#include "stages/dataset_options.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {
namespace {

std::vector<int> parse_rounds(const std::string& text) {
  std::vector<int> rounds;
  for (const auto& item : split_list(text)) {
    try {
      size_t used = 0;
      rounds.push_back(std::stoi(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UserError(fmt::format("--rounds: expected comma-separated round numbers, e.g. 0,1,2, got '{}'", text));
    }
  }
  return rounds;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw UserError(fmt::format("cannot write {}", path.string()));
}

}  // namespace

// `--rounds` lists the rounds to show here (elsewhere it counts the rounds to run), so it is taken
// out before the pipeline options are parsed.
std::vector<int> take_rounds_list(Args& args) {
  std::vector<int> rounds;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    if (args[i] == "--rounds" && i + 1 < args.size()) {
      value = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else if (args[i].rfind("--rounds=", 0) == 0) {
      value = args[i].substr(9);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      continue;
    }
    rounds = parse_rounds(value);
    --i;
  }
  return rounds;
}

int compare(const Args& original_args) {
  Args args = original_args;
  auto shown = take_rounds_list(args);
  if (!shown.empty()) {
    int needed = *std::max_element(shown.begin(), shown.end()) + 1;
    args.push_back("--rounds");
    args.push_back(std::to_string(needed));
  }
  po::options_description desc("compare (--rounds 0,1,2: the rounds to show; default all)");
  desc.add_options()(
      "out", po::value<std::string>()->default_value(""), "report folder (default: WORKDIR/report)")(
      "images", po::value<std::string>()->default_value(""), "comma-separated image names for the panels")(
      "num-images", po::value<int>()->default_value(4), "panels for the images whose labels changed most");
  auto session = PipelineSession::open(
      "compare", "Compare the pseudo labels of the rounds: report (Markdown + HTML), PNG panels, terminal table.", desc,
      args, WorkdirAccess::read);
  if (!session) return 0;
  const auto& vm = session->values;
  auto cmp = compare_rounds(*session->plan, shown);
  std::filesystem::path out = vm["out"].as<std::string>();
  if (out.empty()) out = session->context->workdir() / "report";
  std::filesystem::create_directories(out);

  std::vector<std::filesystem::path> panels;
  if (!cmp.labels.empty()) {
    const auto& ctx = *session->context;
    auto images = open_target(ctx, ctx.values().get<DataOptions>("data"), ctx.values().get<TrainSplit>("data").name,
                              cmp.has_truth);
    std::vector<torch::Tensor> truth;
    if (cmp.has_truth)
      for (size_t i = 0; i < images.size(); ++i) truth.push_back(images.get(i).label);
    auto names = split_list(vm["images"].as<std::string>());
    int count = vm["num-images"].as<int>();
    if (count < 0) throw UserError("--num-images must be >= 0");
    if (names.empty()) names = images_with_largest_change(cmp, truth, static_cast<size_t>(count));
    panels = write_label_panels(cmp, images, names, out / "panels");
  }
  for (const auto& round : cmp.rounds)
    if (round.has_pseudo_labels) write_text(out / ntm_heatmaps_file(round.round), ntm_heatmaps_svg(round));
  write_text(out / "report.md", comparison_markdown(cmp, panels, out));
  write_text(out / "report.html", comparison_html(cmp, panels));
  std::printf("%s", comparison_table_text(cmp).c_str());
  log::info("report: {} and {} ({} panels)", (out / "report.md").string(), (out / "report.html").string(),
            panels.size());
  return 0;
}

}  // namespace jcas::commands
