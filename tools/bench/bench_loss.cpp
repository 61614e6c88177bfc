// jcas-bench-loss: times one forward + backward of the full JCAS loss as the reference trains it
// (two heads, embeddings d = 128 / 256 at output stride 8, K = 4, label affinity, DAR, CALC with both
// NTMs, volume and consistency), after one warm-up step. Prints one JSON line.
#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "pipeline/method/jcas_loss.h"

namespace {

double cpu_seconds() {  // user + system time of the process: less sensitive to other load than wall time
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

int run(const std::vector<std::string>& args) {
  using namespace jcas;
  po::options_description desc("bench-loss");
  desc.add_options()("grid", po::value<std::string>()->default_value("64x64"), "affinity grid HxW (input (4H)x(5W))")(
      "batch", po::value<int>()->default_value(4), "batch size")(
      "impl", po::value<std::string>()->default_value("tiled"), "affinity implementation: dense | tiled")(
      "seed", po::value<int>()->default_value(0), "random seed");
  add_threads_option(desc);
  auto parsed = parse_options("jcas-bench-loss", "Time one forward+backward of the JCAS loss.", desc, args);
  if (parsed.help) return 0;
  const auto& vm = parsed.values;
  apply_threads_option(vm);
  const auto [gh, gw] = parse_size(vm["grid"].as<std::string>(), "grid");
  const int batch = vm["batch"].as<int>();
  if (batch < 1) throw UserError("--batch must be >= 1");
  const auto impl = vm["impl"].as<std::string>();

  torch::manual_seed(vm["seed"].as<int>());

  // The reference: input (H, W) = (4·gh, 5·gw), features and logits at output stride 8.
  const int64_t in_h = 4 * gh, in_w = 5 * gw;
  const int64_t fh = (in_h + 7) / 8, fw = (in_w + 7) / 8;
  const int64_t K = 4;
  JcasLossOptions o;
  o.affinity_h = gh;
  o.affinity_w = gw;
  o.affinity_impl = parse_enum<AffinityImpl>(impl, "impl");
  JcasLoss loss(static_cast<int>(K), o);
  auto feat1 = torch::randn({batch, 128, fh, fw}).requires_grad_(true);
  auto feat2 = torch::randn({batch, 256, fh, fw}).requires_grad_(true);
  auto pred1 = torch::randn({batch, K, fh, fw}).requires_grad_(true);
  auto pred2 = torch::randn({batch, K, fh, fw}).requires_grad_(true);
  auto labels = torch::randint(0, K, {batch, in_h, in_w}, torch::kLong).to(torch::kUInt8);
  auto dist = torch::tensor({0.823f, 0.083f, 0.019f, 0.075f});

  auto step = [&] {
    for (auto* t : {&feat1, &feat2, &pred1, &pred2})
      if (t->grad().defined()) t->grad().zero_();
    loss->zero_grad();
    auto terms = loss->forward(feat1, feat2, pred1, pred2, labels, dist);
    terms.total.backward();
    return terms.total.item<double>();
  };
  step();  // warm-up
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const double value = step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - c0;
  const nlohmann::json out = {{"grid", fmt::format("{}x{}", gh, gw)}, {"N", gh * gw}, {"batch", batch},
                              {"impl", impl}, {"threads", torch::get_num_threads()}, {"step_s", seconds},
                              {"cpu_s", cpu}, {"peak_rss_mib", peak_rss_mib()}, {"loss", value}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run({argv + 1, argv + argc});
  } catch (const jcas::UserError& e) {
    std::fprintf(stderr, "jcas-bench-loss: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jcas-bench-loss: internal error: %s\n", e.what());
    return 1;
  }
}
