#include "pipeline/training/retrain_recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <sstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "pipeline/model/batchnorm_layers.h"
#include "pipeline/training/batchnorm_recalibration.h"

namespace jcas {

const std::vector<std::pair<NtmInit, const char*>>& EnumNames<NtmInit>::table() {
  static const std::vector<std::pair<NtmInit, const char*>> t = {{NtmInit::estimate, "estimate"},
                                                                 {NtmInit::identity, "identity"}};
  return t;
}

const std::vector<std::pair<Readout, const char*>>& EnumNames<Readout>::table() {
  static const std::vector<std::pair<Readout, const char*>> t = {
      {Readout::method, "method"}, {Readout::softmax, "softmax"}, {Readout::dar, "dar"}};
  return t;
}

const std::vector<std::pair<Selection, const char*>>& EnumNames<Selection>::table() {
  static const std::vector<std::pair<Selection, const char*>> t = {
      {Selection::last, "last"}, {Selection::val, "val"}, {Selection::label_free, "label-free criterion"}};
  return t;
}

const std::vector<std::pair<TrainingLabels, const char*>>& EnumNames<TrainingLabels>::table() {
  static const std::vector<std::pair<TrainingLabels, const char*>> t = {{TrainingLabels::pseudo, "pseudo"},
                                                                        {TrainingLabels::truth, "truth"}};
  return t;
}

std::string FrozenParts::text() const {
  std::vector<std::string> parts;
  if (bn_stats) parts.push_back("bn_stats");
  if (bn_affine) parts.push_back("bn_affine");
  if (early) parts.push_back("early");
  return fmt::format("{}", fmt::join(parts, ","));
}

FrozenParts FrozenParts::parse(const std::string& text) {
  FrozenParts f;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part == "bn_stats") f.bn_stats = true;
    else if (part == "bn_affine") f.bn_affine = true;
    else if (part == "early") f.early = true;
    else if (!part.empty())
      throw UserError(fmt::format("--retrain.freeze: unknown part '{}' (expected a comma list of bn_stats, bn_affine, "
                                  "early)",
                                  part));
  }
  return f;
}

void RetrainOptions::bind(OptionBinder& b) {
  b.bind("epochs", &epochs, "retraining epochs per round (warm-up included)");
  b.bind("warmup_epochs", &warmup_epochs, "first epochs with affinity + DAR but no correction");
  b.bind("batch_size", &batch_size, "retraining batch size");
  b.bind("lr", &lr, "retraining learning rate (heads 10x)");
  b.bind("ntm_lr", &ntm_lr, "learning rate of the NTM weights");
  b.bind("ntm_lr_tied", &ntm_lr_tied, "NTMs at the backbone's rate instead of ntm_lr (the reference's effective rate)");
  b.bind("momentum", &momentum, "SGD momentum");
  b.bind("weight_decay", &weight_decay, "SGD weight decay");
  b.bind("method", &method, "adaptation method (" + adaptation_method_names() + ")");
  loss.bind(b);
  b.bind("ntm_init", &ntm_init, "NTM start: this round's T_C and T_C->A, or the reference's W = -2");
  b.bind("select",
         "model selection: last (the last epoch), val (the best epoch on the labelled target val split), or a "
         "label-free criterion's name (the best epoch by it on the images trained on; an inference pass per epoch; "
         "README: Choosing without labels)",
         [this] { return select == Selection::label_free ? select_criterion : std::string(enum_name(select)); },
         [this](const std::string& t) {
           if (t == "last" || t == "val") {
             select = t == "last" ? Selection::last : Selection::val;
             return;
           }
           check_criterion(t, "--retrain.select (last, val or a criterion)");
           select = Selection::label_free;
           select_criterion = t;
         });
  b.bind("labels", &labels, "training labels: the round's pseudo labels, or the train split's truth (upper bound)");
  b.bind("freeze", "parts fixed while retraining: comma list of bn_stats, bn_affine, early (reference: bn_affine,early)",
         [this] { return freeze.text(); }, [this](const std::string& t) { freeze = FrozenParts::parse(t); });
  filter.bind(b);
  OptionBinder later = b.added_later();
  settings.bind(later);
  later.bind("readout", &readout,
             "how the retrained model is read out: as its method does (DAR after DAR training, Tent's image "
             "statistics, softmax otherwise), or softmax or DAR (on the affinity grid) whatever the method");
}

InferenceMode RetrainOptions::inference() const {
  InferenceMode m = adaptation().readout(loss);
  if (readout != Readout::method) m.dar = readout == Readout::dar;
  return m;
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
  filter.check();
  settings.check();
  // A method that decides BatchNorm's mode itself (Tent normalises with batch statistics by
  // definition) refuses a freeze it would silently undo.
  TrainerOptions probe;
  probe.batchnorm_statistics_frozen = freeze.bn_stats;
  adaptation().configure(probe, settings);
  if (freeze.bn_stats && !probe.batchnorm_statistics_frozen)
    throw UserError(fmt::format("--retrain.freeze bn_stats: method '{}' normalises with each batch's statistics by "
                                "definition; leave bn_stats out of --retrain.freeze",
                                method));
  if (select == Selection::label_free && select_criterion == "dar_agreement" && !inference().dar)
    throw UserError(fmt::format("--retrain.select dar_agreement needs a DAR read-out; method '{}' reads out with softmax",
                                method));
}

Retrained retrain_model(SegmentationModel& model, const RetrainOptions& o, const RetrainData& data,
                        TrainerOptions run, const ExecutionContext& execution) {
  const AdaptationMethod& method = o.adaptation();
  const int k = model.num_classes();
  Retrained out;
  const LabelFilter filter = method.label_filter();
  if (filter == LabelFilter::class_balanced && !data.confidence.defined())
    throw UserError(fmt::format("{}: method '{}' filters by pseudo-label confidence, and these labels have none",
                                run.label, method.name()));
  // Recalibrated first: a filter that reads the model (DPL) must see the model that made the labels,
  // which the pseudo-label stage recalibrated on the same images.
  const bool adabn = method.starts_with_adabn() || o.adabn;
  if (adabn) recalibrate_batchnorm(model, *data.images, execution, run.label + " AdaBN");
  FilteredLabels filtered =
      filter_pseudo_labels(filter, data.labels, data.confidence, model, *data.images, data.labeller, o.filter,
                           data.round, execution);
  out.labels = filtered.labels;
  out.kept = filtered.kept;
  out.kept_per_class = filtered.kept_per_class;
  if (filter != LabelFilter::none)
    log::info("{}: the {} filter keeps {:.1f} % of the pseudo-labelled pixels", run.label, method.name(),
              100 * filtered.kept);
  out.loss = method.loss(k, o.loss, o.settings);
  if (!out.loss) return out;

  if (data.initial_class_ntm.defined() && method.uses_ntm_estimate()) {
    // A sliver of identity keeps every diagonal positive, which the logit parameterisation needs.
    auto nudge = [](const torch::Tensor& t) { return 0.999 * t + 0.001 * torch::eye(t.size(0)); };
    if (auto tc = out.loss->class_transition()) tc->init_from(nudge(data.initial_class_ntm));
    if (auto ta = out.loss->affinity_transition()) ta->init_from(nudge(data.initial_affinity_ntm));
  }
  SegmentationLoss warmup = method.warmup_loss(k, o.loss);
  run.epochs = o.epochs;
  run.warmup_epochs = warmup ? o.warmup_epochs : 0;
  run.batch_size = o.batch_size;
  run.lr = o.lr;
  run.ntm_lr = o.ntm_lr;
  run.ntm_lr_tied = o.ntm_lr_tied;
  run.momentum = o.momentum;
  run.weight_decay = o.weight_decay;
  run.batchnorm_statistics_frozen = o.freeze.bn_stats;
  method.configure(run, o.settings);
  std::set<const void*> trainable;
  for (const auto& p : method.trainable_parameters(model)) trainable.insert(p.unsafeGetTensorImpl());
  for (const auto& group : {model.backbone_parameters(), model.head_parameters()})
    for (const auto& p : group)
      if (!trainable.count(p.unsafeGetTensorImpl())) run.frozen.push_back(p);
  if (o.freeze.bn_affine) {
    const auto affine = batchnorm_affine_parameters(model);
    run.frozen.insert(run.frozen.end(), affine.begin(), affine.end());
  }
  if (o.freeze.early) {
    auto early = model.early_parameters();
    if (early.empty()) log::info("{}: --retrain.freeze early: this model has no known early stages", run.label);
    run.frozen.insert(run.frozen.end(), early.begin(), early.end());
  }
  out.result = train_model(model, *out.loss, warmup.get(), *data.images, out.labels, data.class_dist, run, execution,
                           data.validate);
  // Training in batches of a few images leaves running statistics that trail the last batches;
  // the model is stored with the target's own, as it started.
  if (adabn && !o.freeze.bn_stats) recalibrate_batchnorm(model, *data.images, execution, run.label + " AdaBN");
  return out;
}

}  // namespace jcas
