// The native network for PyTorch: a file torch.load reads, holding its construction options and
// its state, which tools/python/jcas_native.py turns back into a module (and into TorchScript).
#include <fmt/format.h>
#include <torch/serialize.h>

#include <fstream>

#include "adapters/foundation/error.h"
#include "pipeline/model/deeplab.h"

namespace jcas {
namespace {

c10::impl::GenericList int_list(const std::vector<int>& values) {
  c10::impl::GenericList list(c10::IntType::get());
  for (int v : values) list.push_back(static_cast<int64_t>(v));
  return list;
}

}  // namespace

void DeepLabImpl::export_for_pytorch(const std::string& file, const std::string& readout) {
  const ModelOptions& o = options_;
  if (o.embedding != "shared")
    throw UserError("export: the native network with --model.embedding separate has no PyTorch definition in "
                    "tools/python/jcas_native.py yet; models with shared embeddings (the default) export");
  c10::impl::GenericDict options(c10::StringType::get(), c10::AnyType::get());
  options.insert("num_classes", static_cast<int64_t>(o.num_classes));
  options.insert("preset", o.preset);
  options.insert("width", static_cast<int64_t>(o.width));
  options.insert("blocks", int_list(o.blocks));
  options.insert("width_multipliers", int_list(o.width_multipliers));
  options.insert("feat1_dim", static_cast<int64_t>(o.feat1_dim));
  options.insert("feat2_dim", static_cast<int64_t>(o.feat2_dim));
  options.insert("dilations", int_list(o.dilations));
  options.insert("head_width", static_cast<int64_t>(o.head_width));
  options.insert("input_norm", o.input_norm);
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& [name, tensor] : this->state()) state.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  c10::impl::GenericDict checkpoint(c10::StringType::get(), c10::AnyType::get());
  checkpoint.insert("format", std::string("jcas-native-1"));
  checkpoint.insert("input", std::string("BGR, (x - 128) / 128"));
  checkpoint.insert("readout", readout);
  checkpoint.insert("options", options);
  checkpoint.insert("state_dict", state);
  const std::vector<char> bytes = torch::pickle_save(checkpoint);
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw UserError(fmt::format("cannot write '{}'", file));
}

}  // namespace jcas
