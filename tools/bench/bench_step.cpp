// jcas-bench-step: the cost of one training step (forward, loss, backward, SGD) of the native
// network as the retrain stage runs it, for CE and for JCAS, at the quickstart's size by default.
// Prints one JSON line per method and the JCAS/CE ratio; --profile FILE writes LibTorch's
// autograd profile of the JCAS steps as a Chrome trace.
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "pipeline/method/adaptation_methods.h"
#include "pipeline/model/deeplab.h"

namespace {

using namespace jcas;

struct StepSetup {
  int batch = 4, height = 128, width = 160, grid_h = 16, grid_w = 20, steps = 20;
  AffinityImpl impl = AffinityImpl::dense;
};

// Seconds per step of `method` (after 3 warm-up steps).
double time_steps(const std::string& method, const StepSetup& s, const std::string& profile) {
  torch::manual_seed(0);
  ModelOptions mo;  // the pipeline's small preset
  DeepLab model(mo);
  JcasLossOptions base;
  base.affinity_h = s.grid_h;
  base.affinity_w = s.grid_w;
  base.affinity_impl = s.impl;
  JcasLoss loss(mo.num_classes, adaptation_method(method).loss_options(base));
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto opts = [](double lr) { return std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr).momentum(0.9)); };
  groups.emplace_back(model->backbone_parameters(), opts(0.005));
  groups.emplace_back(model->head_parameters(), opts(0.05));
  if (!loss->parameters().empty()) groups.emplace_back(loss->parameters(), opts(0.001));
  torch::optim::SGD sgd(groups, torch::optim::SGDOptions(0.005));
  auto x = torch::randn({s.batch, 3, s.height, s.width});
  auto y = torch::randint(0, mo.num_classes, {s.batch, s.height, s.width}, torch::kLong);
  auto dist = torch::tensor({0.85f, 0.08f, 0.03f, 0.04f});
  model->train();
  auto step = [&] {
    sgd.zero_grad();
    ModelOutput out = model->forward(x);
    LossTerms t = loss->forward(out.feat1, out.feat2, out.pred1, out.pred2, y, dist);
    t.total.backward();
    sgd.step();
  };
  for (int i = 0; i < 3; ++i) step();
  std::unique_ptr<torch::autograd::profiler::RecordProfile> rec;
  if (!profile.empty()) rec = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < s.steps; ++i) step();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / s.steps;
}

int run(const std::vector<std::string>& args) {
  po::options_description desc("bench-step");
  desc.add_options()("size", po::value<std::string>()->default_value("128x160"), "input HxW")(
      "grid", po::value<std::string>()->default_value("16x20"), "affinity grid HxW")(
      "impl", po::value<std::string>()->default_value("dense"), "affinity loss implementation: dense | tiled")(
      "batch", po::value<int>()->default_value(4), "batch size")("steps", po::value<int>()->default_value(20),
                                                                  "timed steps per method")(
      "profile", po::value<std::string>()->default_value(""), "write the JCAS steps' autograd profile (Chrome trace)");
  add_threads_option(desc);
  auto parsed = parse_options("jcas-bench-step", "Time training steps of CE and JCAS.", desc, args);
  if (parsed.help) return 0;
  const auto& vm = parsed.values;
  apply_threads_option(vm);
  StepSetup s;
  std::tie(s.height, s.width) = parse_size(vm["size"].as<std::string>(), "size");
  std::tie(s.grid_h, s.grid_w) = parse_size(vm["grid"].as<std::string>(), "grid");
  s.batch = vm["batch"].as<int>();
  s.impl = parse_enum<AffinityImpl>(vm["impl"].as<std::string>(), "impl");
  s.steps = vm["steps"].as<int>();
  if (s.batch < 1 || s.steps < 1) throw UserError("--batch and --steps must be >= 1");
  const double ce = time_steps("ce", s, "");
  const double jcas = time_steps("jcas", s, vm["profile"].as<std::string>());
  const nlohmann::json out = {{"size", fmt::format("{}x{}", s.height, s.width)},
                              {"grid", fmt::format("{}x{}", s.grid_h, s.grid_w)},
                              {"batch", s.batch},
                              {"impl", enum_name(s.impl)},
                              {"threads", torch::get_num_threads()},
                              {"ce_step_s", ce},
                              {"jcas_step_s", jcas},
                              {"ce_batches_per_s", 1 / ce},
                              {"jcas_batches_per_s", 1 / jcas},
                              {"jcas_over_ce", jcas / ce}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run({argv + 1, argv + argc});
  } catch (const jcas::UserError& e) {
    std::fprintf(stderr, "jcas-bench-step: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jcas-bench-step: internal error: %s\n", e.what());
    return 1;
  }
}
