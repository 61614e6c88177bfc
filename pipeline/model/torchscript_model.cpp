#include "pipeline/model/torchscript_model.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"

namespace jcas {

const std::vector<std::pair<ChannelOrder, const char*>>& EnumNames<ChannelOrder>::table() {
  static const std::vector<std::pair<ChannelOrder, const char*>> t = {{ChannelOrder::rgb, "rgb"},
                                                                      {ChannelOrder::bgr, "bgr"}};
  return t;
}

namespace {

std::string numbers_text(const std::vector<double>& v) { return fmt::format("{}", fmt::join(v, ",")); }

std::vector<double> parse_numbers(const std::string& text, const std::string& key) {
  std::vector<double> out;
  for (const auto& item : split_list(text)) {
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UserError(fmt::format("--{}: expected comma-separated numbers, got '{}'", key, text));
    }
  }
  return out;
}

std::string read_bytes(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open the TorchScript model '{}'", file));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool is_head(const std::string& name) { return name.rfind("classifier.", 0) == 0 || name.rfind("aux_classifier.", 0) == 0; }

}  // namespace

void InputConvention::bind(OptionBinder& b) {
  b.bind("input_channels", &channels, "channel order the TorchScript model expects");
  b.bind("input_scale", &scale, "TorchScript input: 8-bit pixel values are multiplied by this");
  const std::string mean_key = b.prefix() + "input_mean", std_key = b.prefix() + "input_std";
  b.bind("input_mean", "TorchScript input: per-channel mean subtracted after scaling",
         [this] { return numbers_text(mean); }, [this, mean_key](const std::string& t) { mean = parse_numbers(t, mean_key); });
  b.bind("input_std", "TorchScript input: per-channel standard deviation divided by",
         [this] { return numbers_text(std); }, [this, std_key](const std::string& t) { std = parse_numbers(t, std_key); });
}

void InputConvention::check() const {
  if (mean.size() != 3 || std.size() != 3) throw UserError("--source.input_mean and input_std need 3 values each");
  for (double s : std)
    if (!(s > 0)) throw UserError("--source.input_std values must be > 0");
  if (!(scale > 0)) throw UserError("--source.input_scale must be > 0");
}

TorchScriptModel::TorchScriptModel(const std::string& file, InputConvention input, int num_classes, int height,
                                   int width)
    : TorchScriptModel(read_bytes(file), file, std::move(input), num_classes, height, width) {}

TorchScriptModel::TorchScriptModel(const std::string& bytes, const std::string& what, InputConvention input,
                                   int num_classes, int height, int width)
    : bytes_(bytes), checked_(height, width), input_(std::move(input)), num_classes_(num_classes) {
  std::istringstream in(bytes_);
  try {
    module_ = torch::jit::load(in);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("'{}' is not a TorchScript model torch::jit::load can read: {}", what,
                                std::string(e.what()).substr(0, 300)));
  }
  // Adapting trains every parameter (a module scripted from inference code may have them frozen).
  for (const auto& p : module_.named_parameters(true)) p.value.requires_grad_(true);
  check_contract(what);
}

ModelOutput TorchScriptModel::forward(const torch::Tensor& images) {
  // The toolkit's images are BGR, (v - 128) / 128; the model gets its own convention.
  auto v = images * 128 + 128;
  if (input_.channels == ChannelOrder::rgb) v = v.flip({1});
  auto opts = images.options();
  auto mean = torch::tensor(input_.mean, opts.dtype(torch::kFloat64)).to(opts).view({1, 3, 1, 1});
  auto std = torch::tensor(input_.std, opts.dtype(torch::kFloat64)).to(opts).view({1, 3, 1, 1});
  auto x = (v * input_.scale - mean) / std;
  torch::IValue result = module_.forward({x});
  ModelOutput out;
  if (result.isTensor()) {
    out.pred2 = result.toTensor();
  } else if (result.isGenericDict()) {
    auto dict = result.toGenericDict();
    auto get = [&](const char* key) {
      auto it = dict.find(std::string(key));
      return it == dict.end() ? torch::Tensor() : it->value().toTensor();
    };
    out.pred2 = get("out");
    out.pred1 = get("aux");
    out.feat2 = get("feat2").defined() ? get("feat2") : get("feat");
    out.feat1 = get("feat1");
  } else if (result.isTuple() && result.toTupleRef().elements().size() == 4) {
    const auto& e = result.toTupleRef().elements();
    out.feat1 = e[0].toTensor();
    out.feat2 = e[1].toTensor();
    out.pred1 = e[2].toTensor();
    out.pred2 = e[3].toTensor();
  } else {
    throw UserError("the TorchScript model returned neither a tensor, a dict with \"out\" nor a 4-tuple");
  }
  if (!out.pred2.defined()) throw UserError("the TorchScript model's output dict has no \"out\" entry");
  if (!out.pred1.defined()) out.pred1 = out.pred2;
  // Without embeddings, the affinity branch compares predicted class distributions, as a fixed
  // signal: its loss trains T_A, and DAR refines the logits with it, but no gradient flows back
  // through these "embeddings". With the gradient, the affinity loss acted on the predictions
  // themselves and an imported LR-ASPP collapsed to one class within an epoch (README, "Bring your
  // own model", has the runs).
  if (!out.feat2.defined()) out.feat2 = torch::softmax(out.pred2, 1).detach();
  if (!out.feat1.defined()) out.feat1 = out.feat2;
  return out;
}

void TorchScriptModel::check_contract(const std::string& what) {
  const auto [height, width] = checked_;
  module_.eval();
  ModelOutput out;
  try {
    torch::NoGradGuard no_grad;
    out = forward(torch::zeros({1, 3, height, width}));
  } catch (const UserError& e) {
    throw UserError(fmt::format("'{}': {}", what, e.what()));
  } catch (const std::exception& e) {
    throw UserError(fmt::format("'{}': forward on a 1x3x{}x{} input failed: {}", what, height, width,
                                std::string(e.what()).substr(0, 300)));
  }
  for (const auto& [name, t] : {std::pair{"logits", out.pred2}, std::pair{"auxiliary logits", out.pred1}}) {
    if (t.dim() != 4)
      throw UserError(fmt::format("'{}': {} have rank {}, expected B x K x h x w", what, name, t.dim()));
    if (t.size(1) != num_classes_)
      throw UserError(fmt::format("'{}': {} have {} classes, the target dataset has {}", what, name, t.size(1),
                                  num_classes_));
  }
  for (const auto& t : {out.feat1, out.feat2})
    if (t.dim() != 4) throw UserError(fmt::format("'{}': embeddings have rank {}, expected B x d x h x w", what, t.dim()));
}

ModelDescription TorchScriptModel::describe() const {
  ModelDescription d{"torchscript", option_texts(input_), bytes_};
  d.architecture.emplace_back("checked_size", to_string(ImageSize{checked_.first, checked_.second}));
  return d;
}

void TorchScriptModel::export_for_pytorch(const std::string& file, const std::string& /*readout*/) {
  module_.eval();
  module_.save(file);
}

std::vector<torch::Tensor> TorchScriptModel::backbone_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : module_.named_parameters(true))
    if (!is_head(p.name)) out.push_back(p.value);
  return out;
}

// A scripted module's BatchNorm layers are the submodules that hold running statistics.
void TorchScriptModel::set_batchnorm_training(bool on) {
  for (auto m : module_.named_modules())  // handles to the submodules: train() changes them
    if (m.value.hasattr("running_mean")) m.value.train(on);
}

std::vector<torch::Tensor> TorchScriptModel::head_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : module_.named_parameters(true))
    if (is_head(p.name)) out.push_back(p.value);
  return out;
}

ModuleState TorchScriptModel::state() const {
  ModuleState s;
  for (const auto& p : module_.named_parameters(true)) s.emplace_back(p.name, p.value);
  for (const auto& b : module_.named_buffers(true)) s.emplace_back(b.name, b.value);
  return s;
}

}  // namespace jcas
