// jcas-bench: the toolkit's speed and memory in one run, printed as JSON lines (one per
// measurement) — training steps of CE and JCAS at the quickstart's size, the JCAS loss alone at
// N = 1024 / 4096 / 9216, pseudo-labelling images/s, and a full retrain step at the paper's scale
// (256x320, the ResNet-101 preset, batch 4, 64x64 grid) with the dense and the tiled loss, and the
// data-parallel retrain step at world 1 and 2 over c10d/Gloo on this machine. Each measurement
// runs in its own child process(es), so its peak memory is its own.
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>

#include "adapters/foundation/allocator.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "pipeline/training/adaptation_registry.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/torchscript_model.h"
#include "pipeline/execution/execution_context.h"
#include "pipeline/execution/rendezvous_server.h"
#include "pipeline/training/trainer.h"

namespace {

using namespace jcas;
using Json = nlohmann::json;

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs `measure` in a child process (with `threads` LibTorch threads) and returns its JSON with
// the child's peak resident memory added. The parent runs no LibTorch work, so forking is safe.
// Everything a measuring process wrote to the pipe `fd` (closed after).
std::string read_to_end(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  close(fd);
  return text;
}

Json in_child(int threads, const std::function<Json()>& measure) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string text;
    try {
      set_thread_count(threads);
      Json j = measure();
      j["threads"] = torch::get_num_threads();
      j["peak_rss_mib"] = peak_rss_mib();
      text = j.dump();
    } catch (const std::exception& e) {
      text = Json{{"error", e.what()}}.dump();
    }
    if (write(fds[1], text.data(), text.size()) < 0) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  const std::string text = read_to_end(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (text.empty()) return Json{{"error", "the measuring process died (out of memory?)"}};
  return Json::parse(text);
}

struct StepCase {
  std::string preset = "small";
  int height = 128, width = 160, batch = 4, steps = 60, warmup = 3;
  int grid_h = JcasLossOptions{}.affinity_h, grid_w = JcasLossOptions{}.affinity_w;  // the retrain default
  std::string method = "jcas";
  AffinityImpl impl = AffinityImpl::dense;
  bool bfloat16 = false;  // the network under CPU autocast to bfloat16 (TrainerOptions::bfloat16)
  std::string torchscript;  // a TorchScript model (`classes` classes) instead of the native network
  int classes = 4;
  std::string batchnorm = "batch";  // --model.batchnorm of the native network (sync: SyncBatchNorm over ranks)
  std::string profile;  // Chrome trace of the timed steps
};

// trace.json -> trace-dense.json
std::string profile_path(const std::string& path, const std::string& tag) {
  const auto dot = path.find_last_of('.');
  const auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path + "-" + tag;
  return path.substr(0, dot) + "-" + tag + path.substr(dot);
}

// Multiply-add FLOPs (2 per multiply-add) of the convolutions and matrix products one forward pass
// of `model` on `x` runs, as LibTorch's profiler counts them (torch.profiler's with_flops).
double forward_flops(SegmentationModel& model, const torch::Tensor& x) {
  namespace prof = torch::autograd::profiler;
  torch::NoGradGuard no_grad;
  prof::enableProfilerLegacy(prof::ProfilerConfig(prof::ProfilerState::CPU, /*report_input_shapes=*/true,
                                                  /*profile_memory=*/false, /*with_stack=*/false,
                                                  /*with_flops=*/true));
  model.forward(x);
  double flops = 0;
  for (auto& events : prof::disableProfilerLegacy())
    for (auto& e : events) {
      const std::string name = e.name();
      if (name == "aten::conv2d" || name == "aten::mm" || name == "aten::addmm" || name == "aten::bmm" ||
          name == "aten::baddbmm")
        flops += static_cast<double>(e.flops());
    }
  return flops;
}

// The arithmetic rate this CPU reaches at this thread count, in float32: the best of a large matrix
// product (the BLAS's) and two large convolutions (oneDNN's; Debian's OpenBLAS may lack kernels for
// the newest CPUs, which oneDNN has), each the mean of 5 after one warm-up. What a network's step
// is compared with, as this machine's practical peak.
Json arithmetic_peak() {
  torch::NoGradGuard no_grad;
  auto rate = [](double flop, const std::function<void()>& op) {
    op();
    const int reps = 5;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) op();
    return flop * reps / seconds_since(t0) / 1e9;
  };
  const int64_t n = 2048;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  const double mm = rate(2.0 * n * n * n, [&] { torch::mm_out(c, a, b); });
  auto x = torch::randn({8, 128, 64, 64});
  auto w3 = torch::randn({128, 128, 3, 3}), w1 = torch::randn({512, 128, 1, 1});
  const double conv3 = rate(2.0 * 8 * 64 * 64 * 128 * 128 * 9, [&] { torch::conv2d(x, w3, {}, 1, 1); });
  const double conv1 = rate(2.0 * 8 * 64 * 64 * 512 * 128, [&] { torch::conv2d(x, w1); });
  return {{"measure", "arithmetic peak"},
          {"matrix_product_gflop_s", mm},
          {"conv3x3_gflop_s", conv3},
          {"conv1x1_gflop_s", conv1},
          {"gflop_s", std::max({mm, conv3, conv1})}};
}

// One training step as the retrain stage takes it (the trainer's own TrainingStep: its optimiser
// groups, rates and weight decay, the finite-output check, the gradient average), on fixed inputs.
class StepBench {
 public:
  // `execution`: one process, or this rank of a data-parallel run (each rank its own images).
  explicit StepBench(const StepCase& c, ExecutionContext execution = {}) : case_(c), execution_(std::move(execution)) {
    torch::manual_seed(0);
    ModelOptions mo;
    mo.preset = c.preset;
    mo.num_classes = c.classes;
    mo.batchnorm = c.batchnorm;
    if (c.preset == "resnet101") mo.feat1_dim = 128, mo.feat2_dim = 256;  // the reference's widths
    if (c.torchscript.empty())
      model_ = DeepLab(mo).ptr();
    else
      model_ = std::make_shared<TorchScriptModel>(c.torchscript, InputConvention{}, c.classes, c.height, c.width);
    JcasLossOptions base;
    base.affinity_h = c.grid_h;
    base.affinity_w = c.grid_w;
    base.affinity_impl = c.impl;
    loss_ = adaptation_method(c.method).loss(mo.num_classes, base, MethodSettings());
    TrainerOptions options;  // the trainer's defaults
    options.label = "jcas-bench";
    options.bfloat16 = c.bfloat16;
    step_ = std::make_unique<TrainingStep>(*model_, *loss_, options, execution_);
    torch::manual_seed(1 + execution_.rank());
    x_ = torch::randn({c.batch, 3, c.height, c.width});
    y_ = torch::randint(0, mo.num_classes, {c.batch, c.height, c.width}, torch::kLong);
    dist_ = c.classes == 4 ? torch::tensor({0.85f, 0.08f, 0.03f, 0.04f}) : torch::full({c.classes}, 1.0f / c.classes);
    // The network's arithmetic, counted once for CE and JCAS alike: forward, and backward as twice
    // that (the gradients of inputs and of weights), the usual 3x of a training step.
    network_flops_ = 3 * forward_flops(*model_, x_);
    model_->set_training(true);
  }

  // Seconds taken by one step.
  double run() {
    const auto t0 = std::chrono::steady_clock::now();
    step_->run(*loss_, x_, y_, dist_, [] { return std::string("a timed step"); });
    return seconds_since(t0);
  }

  Json describe(double step_s) const {
    const auto& c = case_;
    return {{"measure", "training step"}, {"preset", c.preset}, {"input", fmt::format("{}x{}", c.height, c.width)},
            {"grid", fmt::format("{}x{}", c.grid_h, c.grid_w)}, {"batch", c.batch}, {"method", c.method},
            {"impl", enum_name(c.impl)}, {"precision", c.bfloat16 ? "bfloat16" : "float32"},
            {"model", c.torchscript.empty() ? "native" : c.torchscript},
            {"step_s", step_s}, {"batches_per_s", 1 / step_s}, {"images_per_s", c.batch / step_s},
            {"network_gflop_per_image", network_flops_ / 3 / c.batch / 1e9},
            {"network_gflop_s", network_flops_ / step_s / 1e9}};
  }
  double averaging_seconds() const { return step_->averaging_seconds(); }

 private:
  StepCase case_;
  std::shared_ptr<SegmentationModel> model_;
  SegmentationLoss loss_;
  ExecutionContext execution_;
  std::unique_ptr<TrainingStep> step_;
  torch::Tensor x_, y_, dist_;
  double network_flops_ = 0;  // of one training step
};

// Seconds per training step, the mean of c.steps after c.warmup; with c.profile, under the
// autograd profiler (the figures then include its overhead).
Json training_step(const StepCase& c) {
  StepBench step(c);
  for (int i = 0; i < c.warmup; ++i) step.run();
  std::unique_ptr<torch::autograd::profiler::RecordProfile> rec;
  if (!c.profile.empty()) rec = std::make_unique<torch::autograd::profiler::RecordProfile>(c.profile);
  double total = 0;
  for (int i = 0; i < c.steps; ++i) total += step.run();
  return step.describe(total / c.steps);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The cases' steps taken in turn (one of each, c.steps times), each case's median reported: on a
// shared or throttled machine the speed drifts by tens of percent within a minute, and taking the
// steps in turn gives every case the same conditions, so their ratios hold.
Json interleaved_steps(const std::vector<StepCase>& cases) {
  std::vector<std::unique_ptr<StepBench>> steps;
  for (const auto& c : cases) steps.push_back(std::make_unique<StepBench>(c));
  for (int i = 0; i < cases.front().warmup; ++i)
    for (auto& s : steps) s->run();
  std::vector<std::vector<double>> times(cases.size());
  for (int i = 0; i < cases.front().steps; ++i)
    for (size_t k = 0; k < steps.size(); ++k) times[k].push_back(steps[k]->run());
  Json all = Json::array();
  for (size_t k = 0; k < steps.size(); ++k) all.push_back(steps[k]->describe(median(times[k])));
  return {{"cases", all}};
}

// Emits one line per case of `cases`, taken in turn in one child process; `reference(k)` names the
// case that case k is compared with under `ratio_key` (k itself: no ratio).
void emit_interleaved(int threads, const std::vector<StepCase>& cases, const std::string& ratio_key,
                      const std::function<size_t(size_t)>& reference, const std::function<void(const Json&)>& emit) {
  const Json result = in_child(threads, [&] { return interleaved_steps(cases); });
  if (!result.contains("cases")) emit(result);
  for (size_t k = 0; result.contains("cases") && k < cases.size(); ++k) {
    Json j = result["cases"][k];
    j["threads"] = result["threads"];
    j["peak_rss_mib"] = result["peak_rss_mib"];  // of the process holding every case
    j["timing"] = "median of interleaved steps";
    const size_t r = reference(k);
    if (r != k) j[ratio_key] = j["step_s"].get<double>() / result["cases"][r]["step_s"].get<double>();
    emit(j);
  }
}

// The retrain step of the quickstart (the trainer's step: JCAS loss, batch 4 per rank, 128x160) in a data-parallel
// run of `world` local processes (Gloo over 127.0.0.1), each with `threads` LibTorch threads:
// images per second over all ranks, and the share of the step spent averaging gradients.
Json data_parallel_step(int world, int threads, const std::string& batchnorm) {
  const int steps = 12, warmup = 3;
  RendezvousServer rendezvous(world);  // the parent only hosts the store; the ranks compute
  std::vector<int> result_pipe(2);
  if (pipe(result_pipe.data()) != 0) throw std::runtime_error("pipe failed");
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < world; ++rank) {
    const pid_t pid = fork();
    if (pid != 0) {
      ranks.push_back(pid);
      continue;
    }
    std::string text;
    try {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(rendezvous.port()).c_str(), 1);
      setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
      set_thread_count(threads);
      const ExecutionContext execution = ExecutionContext::from(RunOptions{});
      StepCase c;  // the quickstart's retrain step at the default grid, batch 4 per rank
      c.batchnorm = batchnorm;
      StepBench step(c, execution);
      for (int i = 0; i < warmup; ++i) step.run();
      execution.barrier("start");
      const double averaging_before = step.averaging_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) step.run();
      execution.barrier("end");
      const double seconds = seconds_since(t0);
      const double averaging = step.averaging_seconds() - averaging_before;
      text = Json{{"measure", "data-parallel retrain step"}, {"world", world}, {"batchnorm", batchnorm},
                  {"input", fmt::format("{}x{}", c.height, c.width)}, {"grid", fmt::format("{}x{}", c.grid_h, c.grid_w)},
                  {"batch_per_rank", c.batch}, {"threads_per_rank", torch::get_num_threads()},
                  {"images_per_s", world * c.batch * steps / seconds}, {"step_s", seconds / steps},
                  {"all_reduce_share", averaging / seconds}, {"peak_rss_mib_rank0", peak_rss_mib()}}
                 .dump();
    } catch (const std::exception& e) {
      text = Json{{"error", e.what()}}.dump();
    }
    if (rank == 0 && write(result_pipe[1], text.data(), text.size()) < 0) _exit(1);
    _exit(0);
  }
  close(result_pipe[1]);
  const std::string text = read_to_end(result_pipe[0]);
  for (pid_t pid : ranks) waitpid(pid, nullptr, 0);
  if (text.empty()) return Json{{"error", "rank 0 of the measuring processes died"}};
  return Json::parse(text);
}

// The JCAS loss alone (both heads, reference embedding widths), forward and backward.
Json loss_step(int grid_h, int grid_w, AffinityImpl impl) {
  torch::manual_seed(0);
  const int64_t batch = 4, k = 4, in_h = 4 * grid_h, in_w = 5 * grid_w, fh = (in_h + 7) / 8, fw = (in_w + 7) / 8;
  JcasLossOptions o;
  o.affinity_h = grid_h;
  o.affinity_w = grid_w;
  o.affinity_impl = impl;
  JcasLoss loss(static_cast<int>(k), o);
  auto feat1 = torch::randn({batch, 128, fh, fw}).requires_grad_(true);
  auto feat2 = torch::randn({batch, 256, fh, fw}).requires_grad_(true);
  auto pred1 = torch::randn({batch, k, fh, fw}).requires_grad_(true);
  auto pred2 = torch::randn({batch, k, fh, fw}).requires_grad_(true);
  auto labels = torch::randint(0, k, {batch, in_h, in_w}, torch::kLong).to(torch::kUInt8);
  auto dist = torch::tensor({0.823f, 0.083f, 0.019f, 0.075f});
  auto step = [&] {
    loss->zero_grad();
    auto terms = loss->forward(feat1, feat2, pred1, pred2, labels, dist);
    terms.total.backward();
  };
  step();
  auto t0 = std::chrono::steady_clock::now();
  step();
  return {{"measure", "JCAS loss forward+backward"}, {"grid", fmt::format("{}x{}", grid_h, grid_w)},
          {"N", grid_h * grid_w}, {"batch", batch}, {"impl", enum_name(impl)}, {"step_s", seconds_since(t0)}};
}

// Pseudo-labelling throughput of the small network: probabilities of batches of 4 images.
Json pseudo_labelling(bool dar, int height = 128, int width = 160, int classes = ModelOptions{}.num_classes) {
  torch::manual_seed(0);
  ModelOptions options;
  options.num_classes = classes;
  DeepLab model(options);
  model->eval();
  InferenceMode mode;
  mode.dar = dar;
  auto x = torch::randn({4, 3, height, width});
  auto batch = [&] {
    torch::NoGradGuard no_grad;
    ModelOutput out = model->forward(x);
    return predict_probabilities(out.feat2, out.pred2, height, width, mode);
  };
  batch();
  const int batches = 25;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batches; ++i) batch();
  return {{"measure", "pseudo-labelling"}, {"input", fmt::format("{}x{}", height, width)}, {"classes", classes},
          {"inference", dar ? "dar" : "softmax"},
          {"images_per_s", 4.0 * batches / seconds_since(t0)}};
}

int run(const std::vector<std::string>& args) {
  po::options_description desc("bench");
  desc.add_options()("sections", po::value<std::string>()->default_value("step,loss,pseudo_label,paper"),
                     "comma list of: step, loss, pseudo_label, real_size (256x256: source training, retraining and "
                     "pseudo-labelling images/s), paper, scaling (data-parallel, 1 thread per rank), precision "
                     "(float32 and bfloat16 autocast steps), imported (a TorchScript model's steps, --torchscript)")(
      "torchscript", po::value<std::string>()->default_value(""),
      "imported: the TorchScript segmentation model to time (torchvision-style: a dict with \"out\")")(
      "classes", po::value<int>()->default_value(2), "imported: its class count")(
      "size", po::value<std::string>()->default_value("256x256"), "imported: input size HxW")(
      "batch", po::value<int>()->default_value(4), "imported: batch size")(
      "grid", po::value<std::string>()->default_value("32x32"), "imported: the JCAS affinity grid HxW")(
      "profile", po::value<std::string>()->default_value(""),
      "write the autograd profiles of the quickstart-size training steps (Chrome traces: the name with "
      "-ce, -jcas-dense-32x32, -jcas-tiled-32x32 and -jcas-dense-16x20 before its extension)");
  add_threads_option(desc);
  auto parsed = parse_options("jcas-bench", "Speed and memory of training steps, the loss and inference.", desc, args);
  if (parsed.help) return 0;
  const auto& vm = parsed.values;
  const int threads = vm["threads"].as<int>() > 0 ? vm["threads"].as<int>() : available_cpus();
  const std::string sections = "," + vm["sections"].as<std::string>() + ",";
  auto wants = [&](const char* s) { return sections.find(std::string(",") + s + ",") != std::string::npos; };
  // Training steps also say what share of this machine's arithmetic peak their network reaches.
  double peak_gflop_s = 0;
  auto emit = [&peak_gflop_s](Json j) {
    if (peak_gflop_s > 0 && j.contains("network_gflop_s"))
      j["share_of_peak"] = j["network_gflop_s"].get<double>() / peak_gflop_s;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  };
  if (wants("step") || wants("real_size") || wants("imported") || wants("precision") || wants("paper")) {
    const Json peak = in_child(threads, arithmetic_peak);
    if (peak.contains("gflop_s")) peak_gflop_s = peak["gflop_s"].get<double>();
    emit(peak);
  }

  if (wants("step")) {
    // CE, JCAS dense and tiled at the default affinity grid, and dense at 16x20 (the feature grid,
    // the grid of earlier versions' figures).
    std::vector<StepCase> cases(4);
    cases[0].method = "ce";
    cases[1].impl = AffinityImpl::dense;
    cases[2].impl = AffinityImpl::tiled;
    cases[3].impl = AffinityImpl::dense;
    cases[3].grid_h = 16, cases[3].grid_w = 20;
    emit_interleaved(threads, cases, "over_ce", [](size_t) { return size_t{0}; }, emit);
    const std::string trace = vm["profile"].as<std::string>();
    for (auto c : cases)
      if (!trace.empty()) {
        c.profile = profile_path(trace, c.method == "ce" ? "ce"
                                                        : fmt::format("jcas-{}-{}x{}", enum_name(c.impl), c.grid_h,
                                                                      c.grid_w));
        in_child(threads, [&] { return training_step(c); });
      }
  }
  if (wants("loss"))
    for (int side : {32, 64, 96})
      for (AffinityImpl impl : {AffinityImpl::dense, AffinityImpl::tiled})
        emit(in_child(threads, [&] { return loss_step(side, side, impl); }));
  if (wants("precision")) {
    // CE and JCAS (dense, the default grid) in float32 and under CPU autocast to bfloat16, in turn.
    std::vector<StepCase> cases(4);
    for (size_t k = 0; k < cases.size(); ++k) {
      cases[k].method = k < 2 ? "ce" : "jcas";
      cases[k].bfloat16 = k % 2 == 1;
      cases[k].steps = 16;
      cases[k].warmup = 2;
    }
    emit_interleaved(threads, cases, "over_float32", [](size_t k) { return k - k % 2; }, emit);
  }
  if (wants("imported")) {
    // An imported TorchScript model's CE and JCAS steps (dense, at --grid), which
    // tools/python/imported_model_speed.py puts beside PyTorch's own step of the same module.
    const std::string file = vm["torchscript"].as<std::string>();
    if (file.empty()) throw UserError("--sections imported needs --torchscript FILE");
    const ImageSize size = parse_image_size(vm["size"].as<std::string>(), "--size");
    const ImageSize grid = parse_image_size(vm["grid"].as<std::string>(), "--grid");
    std::vector<StepCase> cases(2);
    for (size_t k = 0; k < cases.size(); ++k) {
      cases[k].method = k == 0 ? "ce" : "jcas";
      cases[k].torchscript = file;
      cases[k].classes = vm["classes"].as<int>();
      cases[k].height = size.height, cases[k].width = size.width;
      cases[k].grid_h = grid.height, cases[k].grid_w = grid.width;
      cases[k].batch = vm["batch"].as<int>();
      cases[k].steps = 10;
      cases[k].warmup = 2;
    }
    emit_interleaved(threads, cases, "over_ce", [](size_t) { return size_t{0}; }, emit);
  }
  if (wants("real_size")) {
    // A real dataset's size (256x256 and 2 classes, as the polyp pair), the small network: source
    // training (the CE step), retraining with JCAS (dense; the default grid 32x32 and the reference's
    // ratio H/4 x W/5 = 64x51), pseudo-labelling.
    std::vector<StepCase> cases(3);
    for (auto& c : cases) {
      c.height = c.width = 256;
      c.classes = 2;
      c.steps = 12;
      c.warmup = 2;
    }
    cases[0].method = "ce";
    cases[2].grid_h = 64, cases[2].grid_w = 51;
    emit_interleaved(threads, cases, "over_ce", [](size_t) { return size_t{0}; }, emit);
    for (bool dar : {false, true}) emit(in_child(threads, [&] { return pseudo_labelling(dar, 256, 256, 2); }));
  }
  if (wants("pseudo_label"))
    for (bool dar : {false, true}) emit(in_child(threads, [&] { return pseudo_labelling(dar); }));
  if (wants("paper"))
    for (AffinityImpl impl : {AffinityImpl::dense, AffinityImpl::tiled}) {
      StepCase c;
      c.preset = "resnet101";
      c.height = 256;
      c.width = 320;
      c.grid_h = c.grid_w = 64;
      c.impl = impl;
      c.steps = 1;
      c.warmup = 1;
      emit(in_child(threads, [&] { return training_step(c); }));
    }
  if (wants("scaling"))
    for (const auto& [world, batchnorm] : {std::pair<int, const char*>{1, "batch"}, {2, "batch"}, {2, "sync"}})
      emit(data_parallel_step(world, 1, batchnorm));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  jcas::keep_freed_memory_for_reuse();  // as jcas itself
  try {
    return run({argv + 1, argv + argc});
  } catch (const jcas::UserError& e) {
    std::fprintf(stderr, "jcas-bench: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jcas-bench: internal error: %s\n", e.what());
    return 1;
  }
}
