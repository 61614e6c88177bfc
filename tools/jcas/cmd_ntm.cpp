// `jcas ntm derive-affinity`: the affinity-level NTM implied by a class-level NTM (DESIGN §3.2).
#include <nlohmann/json.hpp>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "pipeline/method/class_to_affinity.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {

namespace {

constexpr double kTolerance = 1e-3;  // rows of T_C and the class distribution must sum to 1 within this

// Comma-separated numbers, none negative.
std::vector<double> parse_numbers(const std::string& text, const std::string& option) {
  std::vector<double> values = parse_number_list(text, option);
  for (double v : values)
    if (v < 0) throw UserError(fmt::format("--{}: entry {} is negative", option, v));
  return values;
}

// "a,b;c,d" -> K×K row-stochastic matrix (rows clean, columns noisy).
torch::Tensor parse_class_ntm(const std::string& text) {
  const std::string opt = "class-ntm";
  std::vector<std::vector<double>> rows;
  for (const auto& row : split_list(text, ';')) rows.push_back(parse_numbers(row, opt));
  const auto k = static_cast<int64_t>(rows.size());
  if (k < 2) throw UserError(fmt::format("--{}: need at least 2 classes (rows separated by ';')", opt));
  auto t = torch::zeros({k, k}, torch::kFloat64);
  for (int64_t i = 0; i < k; ++i) {
    const auto& r = rows[static_cast<size_t>(i)];
    if (static_cast<int64_t>(r.size()) != k)
      throw UserError(fmt::format("--{}: not square: {} rows but row {} has {} entries", opt, k, i, r.size()));
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      t[i][j] = r[static_cast<size_t>(j)];
      sum += r[static_cast<size_t>(j)];
    }
    if (std::abs(sum - 1) > kTolerance)
      throw UserError(fmt::format("--{}: row {} sums to {:.6g}, not 1 (rows are clean classes, tolerance {})", opt, i,
                                  sum, kTolerance));
  }
  return t;
}

}  // namespace

int ntm(const Args& args) {
  const std::string usage =
      "Noise transition matrix tools.\n  jcas ntm derive-affinity --class-ntm \"a,b;c,d\" --class-dist \"p0,p1\" [--json]\n"
      "    the affinity-level NTM T_{C->A} (2x2, index 0 = dissimilar pair, 1 = similar pair) implied by a\n"
      "    class NTM (rows clean, columns noisy) and class proportions.";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::printf("%s\n", usage.c_str());
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "derive-affinity")
    throw UserError(fmt::format("unknown subcommand '{}' (expected: derive-affinity)", args[0]));

  po::options_description desc("ntm derive-affinity");
  desc.add_options()("class-ntm", po::value<std::string>(),
                     "class NTM, rows separated by ';', entries by ',' (row = clean class, column = noisy class)")(
      "class-dist", po::value<std::string>(), "class proportions, comma-separated, summing to 1")(
      "json", po::bool_switch(), "print JSON");
  add_threads_option(desc);
  auto parsed = parse_options("ntm derive-affinity", "Derive the affinity-level NTM from a class-level NTM.", desc,
                              {args.begin() + 1, args.end()});
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  const auto& vm = parsed.values;
  auto tc = parse_class_ntm(require<std::string>(vm, "class-ntm"));
  auto dist_values = parse_numbers(require<std::string>(vm, "class-dist"), "class-dist");
  const auto k = tc.size(0);
  if (static_cast<int64_t>(dist_values.size()) != k)
    throw UserError(fmt::format("--class-dist: {} entries but --class-ntm has {} classes", dist_values.size(), k));
  double sum = 0, sum_sq = 0;
  for (double p : dist_values) {
    sum += p;
    sum_sq += p * p;
  }
  if (std::abs(sum - 1) > kTolerance)
    throw UserError(fmt::format("--class-dist: sums to {:.6g}, not 1 (tolerance {})", sum, kTolerance));
  if (sum * sum - sum_sq <= 1e-12)
    throw UserError("--class-dist: a single class holds every pixel, so there are no dissimilar pairs");
  auto dist = torch::tensor(dist_values, torch::kFloat64);
  auto ta = class_to_affinity(tc, dist);
  const double t00 = ta[0][0].item<double>(), t01 = ta[0][1].item<double>();
  const double t10 = ta[1][0].item<double>(), t11 = ta[1][1].item<double>();
  if (vm["json"].as<bool>()) {
    const nlohmann::json out = {{"affinity_ntm", {{t00, t01}, {t10, t11}}}, {"order", {"dissimilar", "similar"}}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("affinity NTM T_{C->A} (rows clean, columns noisy; 0 = dissimilar pair, 1 = similar pair)\n");
    std::printf("              dissimilar   similar\n");
    std::printf("  dissimilar  %10.6f  %10.6f\n", t00, t01);
    std::printf("  similar     %10.6f  %10.6f\n", t10, t11);
  }
  return 0;
}

}  // namespace jcas::commands
