#include "stages/retrain_recipe.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

const std::vector<std::pair<NtmInit, const char*>>& EnumNames<NtmInit>::table() {
  static const std::vector<std::pair<NtmInit, const char*>> t = {{NtmInit::estimate, "estimate"},
                                                                 {NtmInit::identity, "identity"}};
  return t;
}

const std::vector<std::pair<Selection, const char*>>& EnumNames<Selection>::table() {
  static const std::vector<std::pair<Selection, const char*>> t = {{Selection::last, "last"}, {Selection::val, "val"}};
  return t;
}

void RetrainOptions::bind(OptionBinder& b) {
  b.bind("epochs", &epochs, "retraining epochs per round (warm-up included)");
  b.bind("warmup_epochs", &warmup_epochs, "first epochs with affinity + DAR but no correction");
  b.bind("batch_size", &batch_size, "retraining batch size");
  b.bind("lr", &lr, "retraining learning rate (heads 10x)");
  b.bind("ntm_lr", &ntm_lr, "learning rate of the NTM weights");
  b.bind("momentum", &momentum, "SGD momentum");
  b.bind("weight_decay", &weight_decay, "SGD weight decay");
  b.bind("method", &method, "adaptation method (" + adaptation_method_names() + ")");
  loss.bind(b);
  b.bind("ntm_init", &ntm_init, "NTM start: this round's T_C and T_C->A, or the reference's W = -2");
  b.bind("select", &select, "model selection: the last epoch (label-free) or the labelled target val split");
}

void RetrainOptions::check() const {
  if (epochs < 1) throw UserError("--retrain.epochs must be >= 1");
  if (warmup_epochs < 0 || warmup_epochs > epochs)
    throw UserError("--retrain.warmup_epochs must be in 0..retrain.epochs");
  if (batch_size < 1) throw UserError("--retrain.batch_size must be >= 1");
  if (!(lr > 0) || !(ntm_lr >= 0) || !(momentum >= 0) || !(weight_decay >= 0))
    throw UserError("--retrain.lr must be > 0; ntm_lr, momentum and weight_decay >= 0");
  try {
    adaptation();
  } catch (const UserError& e) {
    throw UserError(fmt::format("--retrain.method: {}", e.what()));
  }
  loss.check();
}

Retrained retrain_model(SegmentationModel& model, const RetrainOptions& o, const RetrainData& data,
                        TrainerOptions run, const ExecutionContext& execution) {
  const AdaptationMethod& method = o.adaptation();
  const int k = model.num_classes();
  const JcasLossOptions main = method.loss_options(o.loss);
  Retrained out;
  out.loss = JcasLoss(k, main);
  if (data.initial_class_ntm.defined()) {
    // A sliver of identity keeps every diagonal positive, which the logit parameterisation needs.
    auto nudge = [](const torch::Tensor& t) { return 0.999 * t + 0.001 * torch::eye(t.size(0)); };
    out.loss->class_ntm->init_from(nudge(data.initial_class_ntm));
    out.loss->affinity_ntm->init_from(nudge(data.initial_affinity_ntm));
  }
  std::optional<JcasLoss> warmup;
  if (auto w = method.warmup_loss(main)) warmup.emplace(k, *w);
  run.epochs = o.epochs;
  run.warmup_epochs = warmup ? o.warmup_epochs : 0;
  run.batch_size = o.batch_size;
  run.lr = o.lr;
  run.ntm_lr = o.ntm_lr;
  run.momentum = o.momentum;
  run.weight_decay = o.weight_decay;
  out.result = train_model(model, out.loss, warmup ? &*warmup : nullptr, *data.images, data.labels, data.class_dist,
                           run, execution, data.validate);
  return out;
}

}  // namespace jcas
