#include "pipeline/runner/pipeline_options.h"

#include <fmt/format.h>

#include "pipeline/core/error.h"
#include "pipeline/core/options.h"

namespace jcas {
namespace {

enum class Kind { integer, number, flag, text };

struct OptionSpec {
  const char* key;
  Kind kind;
  const char* default_value;
  const char* help;
};

// The one table of pipeline options. configs/quickstart.ini repeats these defaults.
const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = {
      {"workdir", Kind::text, "work", "work directory holding the cache (one HDF5 file per stage result)"},
      {"rounds", Kind::integer, "2", "adaptation rounds (pseudo-label -> estimate -> derive -> retrain -> evaluate)"},
      {"seed", Kind::integer, "0", "seed of the data, initialisation and sampling"},
      {"device", Kind::text, "cpu", "cpu | cuda"},
      {"threads", Kind::integer, "0", "LibTorch intra-op threads (0 = all cores)"},

      {"data.source", Kind::text, "", "labelled source dataset folder (empty: synthetic data in WORKDIR/data/source)"},
      {"data.target", Kind::text, "", "target dataset folder (empty: synthetic data in WORKDIR/data/target)"},
      {"data.image_dir", Kind::text, "img", "image folder inside a dataset"},
      {"data.label_dir", Kind::text, "label", "label folder inside a dataset (EndoVis18 reference copy: part/part_lbl)"},
      {"data.input_size", Kind::text, "128x160", "network input HxW (images resized bicubic, labels nearest)"},
      {"data.train_split", Kind::text, "train", "target split that is pseudo-labelled and retrained on"},
      {"data.val_split", Kind::text, "val", "labelled target split for --retrain.select val (never the test split)"},
      {"data.test_split", Kind::text, "test", "target split the models are evaluated on"},

      {"synth.source_train", Kind::integer, "160", "synthetic source training images"},
      {"synth.target_train", Kind::integer, "120", "synthetic target training images"},
      {"synth.target_val", Kind::integer, "30", "synthetic target validation images"},
      {"synth.target_test", Kind::integer, "60", "synthetic target test images"},
      {"synth.size", Kind::text, "128x160", "synthetic image size HxW"},

      {"model.preset", Kind::text, "small", "small (CPU) | resnet101"},
      {"model.width", Kind::integer, "24", "base channels of the small preset"},
      {"model.feat1_dim", Kind::integer, "64", "auxiliary embedding width (reference: 128)"},
      {"model.feat2_dim", Kind::integer, "128", "main embedding width (reference: 256)"},

      {"source.weights", Kind::text, "", "import source weights from an HDF5 file written by jcas instead of training"},
      {"source.epochs", Kind::integer, "12", "source training epochs"},
      {"source.batch_size", Kind::integer, "4", "source batch size"},
      {"source.lr", Kind::number, "0.01", "source learning rate (heads 10x)"},

      {"pseudo_label.prob_stride", Kind::integer, "4", "probabilities are stored at 1/stride resolution"},

      {"estimate_ntm.estimator", Kind::text, "anchor", "T_C estimator: anchor | confident | oracle | identity"},

      {"retrain.epochs", Kind::integer, "8", "retraining epochs per round (warm-up included)"},
      {"retrain.warmup_epochs", Kind::integer, "2", "first epochs with affinity + DAR but no correction"},
      {"retrain.batch_size", Kind::integer, "4", "retraining batch size"},
      {"retrain.lr", Kind::number, "0.005", "retraining learning rate (heads 10x)"},
      {"retrain.ntm_lr", Kind::number, "0.001", "learning rate of the NTM weights"},
      {"retrain.momentum", Kind::number, "0.9", "SGD momentum"},
      {"retrain.weight_decay", Kind::number, "0.0005", "SGD weight decay"},
      {"retrain.method", Kind::text, "jcas", "loss: jcas | ce | volmin | sparsereg"},
      {"retrain.affinity", Kind::flag, "true", "affinity branch on/off (ablation)"},
      {"retrain.dar", Kind::flag, "true", "differentiated affinity reasoning on/off (ablation)"},
      {"retrain.calc", Kind::flag, "true", "class-affinity loss correction on/off (ablation)"},
      {"retrain.lambda", Kind::number, "0.1", "lambda of the reference weighting"},
      {"retrain.volume_weight", Kind::number, "0.5", "volume minimisation weight"},
      {"retrain.consistency_weight", Kind::number, "0.01", "class-affinity consistency weight"},
      {"retrain.affinity_grid", Kind::text, "16x20", "affinity grid HxW (reference: 64x64 at 256x320)"},
      {"retrain.affinity_impl", Kind::text, "dense", "dense | tiled"},
      {"retrain.affinity_ignore", Kind::text, "exclude", "exclude | as_class"},
      {"retrain.ntm_init", Kind::text, "estimate", "estimate (this round's T_C and T_C->A) | identity (reference -2)"},
      {"retrain.select", Kind::text, "last", "model selection: last (label-free) | val (labelled target val split)"},
  };
  return table;
}

const OptionSpec& spec_of(const std::string& key) {
  for (const auto& s : option_table())
    if (key == s.key) return s;
  throw std::invalid_argument("unknown pipeline option " + key);
}

}  // namespace

void declare_pipeline_options(po::options_description& desc) {
  for (const auto& s : option_table()) {
    switch (s.kind) {
      case Kind::integer:
        desc.add_options()(s.key, po::value<int>()->default_value(std::stoi(s.default_value)), s.help);
        break;
      case Kind::number:
        desc.add_options()(s.key, po::value<double>()->default_value(std::stod(s.default_value), s.default_value),
                           s.help);
        break;
      case Kind::flag:
        desc.add_options()(s.key, po::value<bool>()->default_value(std::string(s.default_value) == "true"), s.help);
        break;
      case Kind::text:
        desc.add_options()(s.key, po::value<std::string>()->default_value(s.default_value), s.help);
        break;
    }
  }
}

PipelineConfig PipelineConfig::from(const po::variables_map& vm) {
  PipelineConfig c;
  for (const auto& s : option_table()) {
    if (!vm.count(s.key)) {
      c.values_[s.key] = s.default_value;
      continue;
    }
    const auto& v = vm[s.key];
    switch (s.kind) {
      case Kind::integer: c.values_[s.key] = std::to_string(v.as<int>()); break;
      case Kind::number: c.values_[s.key] = fmt::format("{}", v.as<double>()); break;
      case Kind::flag: c.values_[s.key] = v.as<bool>() ? "true" : "false"; break;
      case Kind::text: c.values_[s.key] = v.as<std::string>(); break;
    }
  }
  return c;
}

PipelineConfig PipelineConfig::with_defaults(const std::map<std::string, std::string>& overrides) {
  PipelineConfig c;
  for (const auto& s : option_table()) c.values_[s.key] = s.default_value;
  for (const auto& [k, v] : overrides) {
    spec_of(k);
    c.values_[k] = v;
  }
  // Canonicalise numbers so that "0.10" and "0.1" fingerprint alike.
  for (const auto& s : option_table())
    if (s.kind == Kind::number) c.values_[s.key] = fmt::format("{}", std::stod(c.values_[s.key]));
  return c;
}

const std::string& PipelineConfig::text(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::invalid_argument("unknown pipeline option " + key);
  return it->second;
}

int PipelineConfig::integer(const std::string& key) const { return std::stoi(text(key)); }
double PipelineConfig::number(const std::string& key) const { return std::stod(text(key)); }
bool PipelineConfig::flag(const std::string& key) const { return text(key) == "true"; }
std::pair<int, int> PipelineConfig::size(const std::string& key) const { return parse_size(text(key), key); }

std::vector<std::string> PipelineConfig::select(const std::vector<std::string>& keys) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_) {
    for (const auto& sel : keys) {
      bool section = !sel.empty() && sel.back() == '.';
      if (section ? k.rfind(sel, 0) == 0 : k == sel) {
        out.push_back(k);
        break;
      }
    }
  }
  return out;
}

std::string PipelineConfig::canonical(const std::vector<std::string>& keys) const {
  std::string out;
  for (const auto& k : select(keys)) out += k + "=" + values_.at(k) + "\n";
  return out;
}

std::string PipelineConfig::json(const std::vector<std::string>& keys) const {
  std::string out = "{";
  bool first = true;
  for (const auto& k : select(keys)) {
    std::string v;
    for (char ch : values_.at(k)) {
      if (ch == '"' || ch == '\\') v += '\\';
      v += ch;
    }
    out += fmt::format("{}\"{}\": \"{}\"", first ? "" : ", ", k, v);
    first = false;
  }
  return out + "}";
}

}  // namespace jcas
