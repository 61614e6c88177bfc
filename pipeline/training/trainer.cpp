#include "pipeline/training/trainer.h"

#include <ATen/autocast_mode.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "adapters/foundation/error.h"
#include "adapters/io/h5_store.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "pipeline/method/affinity_loss.h"
#include "pipeline/model/model_io.h"

namespace jcas {
namespace {

using torch::optim::Adam;
using torch::optim::AdamOptions;
using torch::optim::AdamParamState;
using torch::optim::SGD;
using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

std::unique_ptr<torch::optim::OptimizerOptions> group_options(const TrainerOptions& o, double lr, double wd) {
  if (o.optimizer == Optimizer::adam) return std::make_unique<AdamOptions>(AdamOptions(lr).betas({0.9, 0.999}));
  return std::make_unique<SGDOptions>(SGDOptions(lr).momentum(o.momentum).weight_decay(wd));
}

// Param groups: backbone (lr), heads (head_lr_factor lr), NTM weights (ntm_lr, or lr when tied; no weight
// decay), each without the frozen parameters; a group left empty is not created. `base` receives
// each created group's undecayed rate.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(SegmentationModel& model, SegmentationLossImpl& loss,
                                                        const TrainerOptions& o, std::vector<double>& base) {
  std::set<const void*> frozen;
  for (const auto& p : o.frozen) frozen.insert(p.unsafeGetTensorImpl());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](const std::vector<torch::Tensor>& params, double lr, double wd) {
    std::vector<torch::Tensor> trained;
    for (const auto& p : params)
      if (!frozen.count(p.unsafeGetTensorImpl())) trained.push_back(p);
    if (trained.empty()) return;
    groups.emplace_back(trained, group_options(o, lr, wd));
    base.push_back(lr);
  };
  add(model.backbone_parameters(), o.lr, o.weight_decay);
  add(model.head_parameters(), o.head_lr_factor * o.lr, o.weight_decay);
  add(loss.parameters(), o.ntm_lr_tied ? o.lr : o.ntm_lr, 0.0);
  if (groups.empty()) throw UserError(o.label + ": every parameter is frozen; nothing to train");
  if (o.optimizer == Optimizer::adam) return std::make_unique<Adam>(groups, AdamOptions(o.lr));
  return std::make_unique<SGD>(groups, SGDOptions(o.lr));
}

// Terms switched off by the ablation options may be undefined.
double value_or_zero(const torch::Tensor& t) { return t.defined() && t.numel() == 1 ? t.item<double>() : 0.0; }

std::string state_key(const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

// The optimiser's per-parameter state in a checkpoint: SGD's momentum buffer, or Adam's step and
// moment estimates.
void write_optimizer_state(H5Writer& out, torch::optim::Optimizer& opt) {
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      auto it = opt.state().find(state_key(groups[g].params()[i]));
      if (it == opt.state().end()) continue;
      const std::string name = fmt::format("optimizer/group{}/{}", g, i);
      if (auto* adam = dynamic_cast<AdamParamState*>(it->second.get())) {
        out.write(name + "/exp_avg", adam->exp_avg());
        out.write(name + "/exp_avg_sq", adam->exp_avg_sq());
        out.write(name + "/step", torch::tensor({adam->step()}, torch::kInt64));
      } else {
        out.write(name, static_cast<SGDParamState&>(*it->second).momentum_buffer());
      }
    }
}

void read_optimizer_state(const H5Reader& in, torch::optim::Optimizer& opt, torch::Device device) {
  const bool adam = dynamic_cast<Adam*>(&opt) != nullptr;
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params().size(); ++i) {
      const std::string name = fmt::format("optimizer/group{}/{}", g, i);
      const std::string key = state_key(groups[g].params()[i]);
      if (adam && in.has(name + "/step")) {
        auto st = std::make_unique<AdamParamState>();
        st->exp_avg(in.read(name + "/exp_avg").to(device));
        st->exp_avg_sq(in.read(name + "/exp_avg_sq").to(device));
        st->step(in.read(name + "/step").item<int64_t>());
        opt.state()[key] = std::move(st);
      } else if (!adam && in.has(name)) {
        auto st = std::make_unique<SGDParamState>();
        st->momentum_buffer(in.read(name).to(device));
        opt.state()[key] = std::move(st);
      }
    }
}

torch::Tensor logs_tensor(const std::vector<EpochLog>& logs) {
  auto t = torch::zeros({static_cast<int64_t>(logs.size()), 5}, torch::kFloat64);
  for (size_t e = 0; e < logs.size(); ++e) {
    t[e][0] = logs[e].loss;
    t[e][1] = logs[e].seg;
    t[e][2] = logs[e].aff;
    t[e][3] = logs[e].seconds;
    t[e][4] = logs[e].validation;
  }
  return t;
}

std::vector<EpochLog> logs_from(const torch::Tensor& t) {
  std::vector<EpochLog> logs(t.size(0));
  auto a = t.accessor<double, 2>();
  for (int64_t e = 0; e < t.size(0); ++e) logs[e] = {a[e][0], a[e][1], a[e][2], a[e][3], a[e][4]};
  return logs;
}

struct Checkpoint {
  const TrainerOptions& o;
  bool writer;  // only one process of a run writes

  void save(SegmentationModel& model, SegmentationLossImpl& loss, torch::optim::Optimizer& opt, const std::vector<EpochLog>& logs, int best_epoch,
            const ModuleState* best) const {
    if (o.checkpoint.empty() || !writer) return;
    H5Writer out(o.checkpoint);
    write_state(out, "model", model.state());
    if (!loss.parameters().empty()) write_module(out, "loss", loss);  // a loss may learn nothing
    if (best) write_state(out, "best", *best);
    write_optimizer_state(out, opt);
    out.write("epochs", logs_tensor(logs), "epoch,[loss,seg,aff,seconds,validation]");
    out.attr("/", "key", o.checkpoint_key);
    out.attr("/", "best_epoch", int64_t{best_epoch});
    out.commit();
  }

  // Returns the epochs restored (0 when there is no usable checkpoint).
  int load(SegmentationModel& model, SegmentationLossImpl& loss, torch::optim::Optimizer& opt, std::vector<EpochLog>& logs, int& best_epoch,
           ModuleState* best, torch::Device device) const {
    if (o.checkpoint.empty() || !std::filesystem::exists(o.checkpoint)) return 0;
    try {
      H5Reader in(o.checkpoint);
      if (!in.has_attr("/", "key") || in.attr_string("/", "key") != o.checkpoint_key) {
        log::info("{}: checkpoint {} belongs to other options; starting over", o.label, o.checkpoint.string());
        return 0;
      }
      read_state(in, "model", model.state());
      if (!loss.parameters().empty()) read_module(in, "loss", loss);
      if (best && in.is_group("best")) read_state(in, "best", *best);
      model.move_to(device);
      loss.to(device);
      read_optimizer_state(in, opt, device);
      logs = logs_from(in.read("epochs"));
      best_epoch = static_cast<int>(in.attr_int("/", "best_epoch"));
      return static_cast<int>(logs.size());
    } catch (const std::exception& e) {
      log::info("{}: checkpoint {} unusable ({}); starting over", o.label, o.checkpoint.string(), e.what());
      return 0;
    }
  }
};

// A data-parallel run's ranks start from rank 0's state: the weights and statistics of its model
// and NTMs (identical anyway when freshly built from the seed or resumed from the same
// checkpoint; the broadcast makes it certain), and they must resume from the same epoch.
void start_identical(SegmentationModel& model, SegmentationLossImpl& loss, int resumed_from, const ExecutionContext& execution) {
  if (execution.world_size() == 1) return;
  auto epoch = torch::tensor({static_cast<int64_t>(resumed_from)});
  std::vector<torch::Tensor> writer_epoch = {epoch.clone()};
  execution.broadcast_from_writer(writer_epoch);
  if (writer_epoch[0].item<int64_t>() != resumed_from)
    throw UserError(fmt::format("rank {} resumes after epoch {} but rank 0 after epoch {}: every rank must see rank "
                                "0's checkpoint (the work directory must be shared by all machines)",
                                execution.rank(), resumed_from, writer_epoch[0].item<int64_t>()));
  std::vector<torch::Tensor> state;
  for (const auto& [name, t] : model.state()) state.push_back(t);
  for (const auto& t : loss.parameters()) state.push_back(t);
  for (const auto& t : loss.buffers()) state.push_back(t);
  execution.broadcast_from_writer(state);
}

// With per-rank BatchNorm statistics ("batch") each rank's running statistics follow its own
// batches; rank 0's are the run's (DDP broadcasts rank 0's buffers before every forward; they
// are read only in evaluation mode, so once per epoch, before validation and the checkpoint, does
// the same).
void share_buffers(SegmentationModel& model, const ExecutionContext& execution) {
  if (execution.world_size() == 1) return;
  std::vector<torch::Tensor> buffers;
  for (const auto& [name, t] : model.state())
    if (!t.requires_grad()) buffers.push_back(t);
  execution.broadcast_from_writer(buffers);
}

// Every rank applies the same averaged gradients, so the parameters stay bit-identical; a checksum
// per tensor (sum and sum of squares) compared with rank 0's proves it at each checkpoint.
void check_identical(SegmentationModel& model, SegmentationLossImpl& loss, int epoch, const ExecutionContext& execution) {
  if (execution.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  std::vector<std::string> names;
  std::vector<torch::Tensor> sums;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    auto d = t.detach().to(torch::kCPU, torch::kFloat64);
    names.push_back(name);
    sums.push_back(torch::stack({d.sum(), d.pow(2).sum()}));
  };
  for (const auto& [name, t] : model.state()) add(name, t);
  for (const auto& item : loss.named_parameters()) add("loss." + item.key(), item.value());
  const auto checksums = execution.all_gather(torch::stack(sums));
  for (size_t r = 1; r < checksums.size(); ++r)
    for (size_t i = 0; i < names.size(); ++i)
      if (!checksums[r][static_cast<int64_t>(i)].equal(checksums[0][static_cast<int64_t>(i)]))
        throw UserError(fmt::format("after epoch {}: the parameters of rank {} differ from rank 0's ({}): the ranks "
                                    "diverged",
                                    epoch, r, names[i]));
}

// A data-parallel step's loss is that of the union of the ranks' batches: each rank's batch mean
// weighted by its loss weight. `sums` holds per batch {weight, weight x loss, x seg, x aff}.
void set_group_losses(EpochLog& log_line, torch::Tensor sums, const ExecutionContext& execution) {
  std::vector<torch::Tensor> all = {sums};
  execution.all_reduce_sum(all);
  auto a = sums.accessor<double, 2>();
  const auto batches = static_cast<double>(sums.size(0));
  log_line.loss = log_line.seg = log_line.aff = 0;
  for (int64_t b = 0; b < sums.size(0); ++b) {
    log_line.loss += a[b][1] / a[b][0] / batches;
    log_line.seg += a[b][2] / a[b][0] / batches;
    log_line.aff += a[b][3] / a[b][0] / batches;
  }
}

// Frozen parameters need no gradient while training; they get their flag back afterwards.
class GradientsOff {
 public:
  explicit GradientsOff(const std::vector<torch::Tensor>& params) {
    for (const auto& p : params)
      if (p.requires_grad()) {
        p.requires_grad_(false);
        params_.push_back(p);
      }
  }
  ~GradientsOff() {
    for (auto& p : params_) p.requires_grad_(true);
  }
  GradientsOff(const GradientsOff&) = delete;
  GradientsOff& operator=(const GradientsOff&) = delete;

 private:
  std::vector<torch::Tensor> params_;
};

}  // namespace

TrainingStep::TrainingStep(SegmentationModel& model, SegmentationLossImpl& loss, const TrainerOptions& options,
                           const ExecutionContext& execution)
    : model_(model),
      options_(options),
      execution_(execution),
      optimizer_(make_optimizer(model, loss, options, base_rates_)) {
  for (const auto& group : optimizer_->param_groups())
    for (const auto& p : group.params()) trained_.push_back(p);
  if (execution_.world_size() > 1) {
    synchronises_batchnorm_ = model_.set_batchnorm_replicas([](std::vector<torch::Tensor>&) {}, 0);
    model_.set_batchnorm_replicas(nullptr, 0);
  }
}

void TrainingStep::set_rate_factor(double factor) {
  auto& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(base_rates_[g] * factor);
}

namespace {

// CPU autocast to bfloat16 for a scope, as `torch.autocast("cpu", torch.bfloat16)` in Python.
class CpuBfloat16Autocast {
 public:
  explicit CpuBfloat16Autocast(bool on) : on_(on) {
    if (!on_) return;
    was_enabled_ = at::autocast::is_cpu_enabled();
    was_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~CpuBfloat16Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(was_dtype_);
  }
  CpuBfloat16Autocast(const CpuBfloat16Autocast&) = delete;
  CpuBfloat16Autocast& operator=(const CpuBfloat16Autocast&) = delete;

 private:
  bool on_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// For its lifetime (when `on`) the model's synchronised BatchNorm sums over the ranks, this rank's
// loss weighing `loss_weight` in the step.
class BatchNormReplicas {
 public:
  BatchNormReplicas(SegmentationModel& model, const ExecutionContext& execution, double loss_weight, bool on)
      : model_(model), on_(on) {
    if (on_)
      model_.set_batchnorm_replicas([&execution](std::vector<torch::Tensor>& t) { execution.all_reduce_sum(t); },
                                    loss_weight);
  }
  ~BatchNormReplicas() {
    if (on_) model_.set_batchnorm_replicas(nullptr, 0);
  }
  BatchNormReplicas(const BatchNormReplicas&) = delete;
  BatchNormReplicas& operator=(const BatchNormReplicas&) = delete;

 private:
  SegmentationModel& model_;
  bool on_;
};

}  // namespace

double loss_weight(const torch::Tensor& labels) {
  return labels.defined() ? (labels != kIgnoreLabel).sum().item<double>() : 0.0;
}

namespace {

ModelOutput forward_in(SegmentationModel& model, const torch::Tensor& x, bool bfloat16) {
  if (!bfloat16) return model.forward(x);
  ModelOutput out;
  {
    CpuBfloat16Autocast autocast(true);
    out = model.forward(x);
  }
  // The loss in float32: its sums over many pixels and its NTM products need the precision. A
  // model with one head keeps one tensor for both (its terms are computed once: segmentation_loss.h).
  auto to_float = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat32) : t; };
  const bool one_feat = one_head(out.feat1, out.feat2), one_pred = one_head(out.pred1, out.pred2);
  out.feat2 = to_float(out.feat2);
  out.pred2 = to_float(out.pred2);
  out.feat1 = one_feat ? out.feat2 : to_float(out.feat1);
  out.pred1 = one_pred ? out.pred2 : to_float(out.pred1);
  return out;
}

}  // namespace

LossTerms TrainingStep::run(SegmentationLossImpl& active, const torch::Tensor& x, const torch::Tensor& y,
                            const torch::Tensor& class_dist, const std::function<std::string()>& where) {
  optimizer_->zero_grad();
  LossTerms terms;
  const double weight = loss_weight(y);
  if (x.defined()) {
    // BatchNorm synchronised over the ranks for this step's forward and backward only: validation
    // and read-outs inside training run per rank.
    BatchNormReplicas replicas(model_, execution_, weight, synchronises_batchnorm_);
    ModelOutput out = forward_in(model_, x, options_.bfloat16);
    // A diverged model is one clear error, not a failing check deep inside a loss.
    if (!torch::isfinite(out.pred2).all().item<bool>())
      throw UserError(fmt::format("{}: the model's outputs are no longer finite at {}: training diverged (try a "
                                  "lower learning rate, e.g. --retrain.lr {})",
                                  options_.label, where(), options_.lr / 10));
    terms = active.forward(out.feat1, out.feat2, out.pred1, out.pred2, y, class_dist);
    terms.total.backward();
    // An empty batch's loss is a mean over nothing; its gradients weigh nothing.
    if (weight == 0)
      for (auto& p : trained_)
        if (p.grad().defined()) p.mutable_grad().zero_();
  }
  const auto t0 = std::chrono::steady_clock::now();
  execution_.average_gradients(trained_, weight);
  averaging_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  optimizer_->step();
  return terms;
}

TrainResult train_model(SegmentationModel& model, SegmentationLossImpl& loss, SegmentationLossImpl* warmup_loss,
                        const SegmentationDataset& images, const torch::Tensor& labels,
                        const torch::Tensor& class_dist, const TrainerOptions& o, const ExecutionContext& execution,
                        const std::function<double(SegmentationModel&)>& validate) {
  const int64_t n = static_cast<int64_t>(images.size());
  TORCH_CHECK(labels.size(0) == n, "train_model: ", labels.size(0), " label maps for ", n, " images");
  const torch::Device device = execution.device();
  model.move_to(device);
  loss.to(device);
  if (warmup_loss) warmup_loss->to(device);
  auto dist = class_dist.to(device, torch::kFloat32);
  TrainingStep step(model, loss, o, execution);
  torch::optim::Optimizer& opt = step.optimizer();
  GradientsOff frozen(o.frozen);

  // With a validation callback, the best epoch's weights are kept as a copy of the model's state.
  const ModuleState live = model.state();
  ModuleState best;
  if (validate) best = clone_state(live);
  TrainResult result;
  int best_epoch = 0;
  Checkpoint ckpt{o, execution.is_writer()};
  result.resumed_from = ckpt.load(model, loss, opt, result.epochs, best_epoch, validate ? &best : nullptr, device);
  if (result.resumed_from > 0) log::info("{}: resumed from checkpoint after epoch {}", o.label, result.resumed_from);
  start_identical(model, loss, result.resumed_from, execution);

  // Every process takes every world_size-th sample of an epoch's order, in batches of batch_size:
  // step b of the W ranks covers positions [b W B, (b+1) W B) of the order, as one process with
  // batch W B would. Every rank takes the same number of steps (rank 0's); a rank whose share is
  // shorter joins the last step's average with no samples.
  const int64_t per_process = (n + execution.world_size() - 1) / execution.world_size();
  const int64_t batches_per_epoch = (per_process + o.batch_size - 1) / o.batch_size;
  const int64_t total_iters = batches_per_epoch * o.epochs;
  for (int epoch = result.resumed_from; epoch < o.epochs; ++epoch) {
    // The sample order and flips of an epoch depend only on (seed, epoch): a resumed run sees the
    // same batches as an uninterrupted one.
    std::mt19937_64 rng(o.seed * 1000003ull + static_cast<uint64_t>(epoch));
    std::vector<size_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    // Each sample's flip is drawn in the order's sequence, whichever rank takes it.
    std::bernoulli_distribution coin(0.5);
    std::vector<bool> flipped(n);
    for (size_t i : all) flipped[i] = coin(rng) && o.flips;
    const std::vector<size_t> order = execution.shard(all);  // this process's share
    const auto mine = static_cast<int64_t>(order.size());
    auto group_sums = torch::zeros({batches_per_epoch, 4}, torch::kFloat64);

    const bool warm = warmup_loss && epoch < o.warmup_epochs;
    SegmentationLossImpl& active = warm ? *warmup_loss : loss;
    model.set_training(true);
    if (o.batchnorm_statistics_frozen) model.set_batchnorm_training(false);
    auto t0 = std::chrono::steady_clock::now();
    EpochLog log_line;
    ProgressBar bar(fmt::format("{} epoch {}/{}{}", o.label, epoch + 1, o.epochs, warm ? " (warm-up)" : ""),
                    batches_per_epoch, "batch");
    for (int64_t b = 0; b < batches_per_epoch; ++b) {
      std::vector<size_t> idx(order.begin() + std::min<int64_t>(mine, b * o.batch_size),
                              order.begin() + std::min<int64_t>(mine, (b + 1) * o.batch_size));
      double factor = std::pow(1.0 - static_cast<double>(epoch * batches_per_epoch + b) / total_iters, o.poly_power);
      step.set_rate_factor(factor);
      torch::Tensor x, y;
      if (!idx.empty()) {
        std::vector<torch::Tensor> xs, ys;
        for (size_t i : idx) {
          xs.push_back(images.get(i, flipped[i]).image);
          ys.push_back(flipped[i] ? labels[i].flip({1}) : labels[i]);
        }
        x = torch::stack(xs).to(device);
        y = torch::stack(ys).to(device, torch::kLong);
      } else if (step.synchronises_batchnorm()) {
        const auto image = images.get(0, false).image;
        x = torch::empty({0, image.size(0), image.size(1), image.size(2)}, image.options().device(device));
        y = torch::empty({0, labels.size(1), labels.size(2)}, torch::TensorOptions(device).dtype(torch::kLong));
      }
      const LossTerms terms =
          step.run(active, x, y, dist, [&] { return fmt::format("epoch {}, batch {}", epoch + 1, b + 1); });
      if (!idx.empty()) {
        const double total = terms.total.item<double>(), seg = value_or_zero(terms.seg2);
        const double aff = value_or_zero(terms.aff1);
        log_line.loss += total / batches_per_epoch;
        log_line.seg += seg / batches_per_epoch;
        log_line.aff += aff / batches_per_epoch;
        if (execution.world_size() > 1) {
          const double k = loss_weight(y);
          group_sums[b] = torch::tensor({k, k * total, k * seg, k * aff}, torch::kFloat64);
        }
      }
      bar.set_postfix(fmt::format("loss {:.4f}", log_line.loss * batches_per_epoch / (b + 1)));
      bar.advance();
      check_interrupted();
    }
    bar.finish();
    if (execution.world_size() > 1) set_group_losses(log_line, group_sums, execution);
    share_buffers(model, execution);
    check_identical(model, loss, epoch + 1, execution);
    log_line.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string selection;
    if (validate) {
      torch::NoGradGuard no_grad;
      model.set_training(false);
      log_line.validation = validate(model);
      bool better = best_epoch == 0 || log_line.validation > result.epochs[best_epoch - 1].validation;
      if (better) {
        best_epoch = epoch + 1;
        copy_state(live, best);
      }
      selection = fmt::format(", {} {:.4f}{}", o.validation_name, log_line.validation, better ? " (best)" : "");
    }
    log::info("{} epoch {}/{}: loss {:.4f} (seg {:.4f}, aff {:.4f}){}, {}", o.label, epoch + 1, o.epochs,
              log_line.loss, log_line.seg, log_line.aff, selection, format_duration(log_line.seconds));
    result.epochs.push_back(log_line);
    ckpt.save(model, loss, opt, result.epochs, best_epoch, validate ? &best : nullptr);
    check_interrupted();
  }

  if (validate && best_epoch > 0) {
    copy_state(best, live);
    result.selected_epoch = best_epoch;
  } else {
    result.selected_epoch = o.epochs;
  }
  model.set_training(false);
  return result;
}

}  // namespace jcas
