// `jcas export`: the model of a round for use outside jcas. A TorchScript source model is written
// back as TorchScript with its adapted parameters (torch.jit.load reads it). The native network is
// written as a file torch.load reads: {"format", "options", "state_dict"}, which
// tools/python/jcas_native.py turns back into a PyTorch module (and into TorchScript).
#include <fmt/format.h>
#include <torch/serialize.h>

#include <fstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/temporary_path.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/torchscript_model.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {
namespace {

c10::impl::GenericList int_list(const std::vector<int>& values) {
  c10::impl::GenericList list(c10::IntType::get());
  for (int v : values) list.push_back(static_cast<int64_t>(v));
  return list;
}

// The native network as a torch.load-readable dict: its construction options and its state.
std::vector<char> native_checkpoint(const DeepLabImpl& net, const InferenceMode& readout) {
  const ModelOptions& o = net.options();
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
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& [name, tensor] : net.state()) state.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  c10::impl::GenericDict checkpoint(c10::StringType::get(), c10::AnyType::get());
  checkpoint.insert("format", std::string("jcas-native-1"));
  checkpoint.insert("input", std::string("BGR, (x - 128) / 128"));
  checkpoint.insert("readout", readout.readout());
  checkpoint.insert("options", options);
  checkpoint.insert("state_dict", state);
  return torch::pickle_save(checkpoint);
}

}  // namespace

int export_model(const Args& args) {
  po::options_description desc("export");
  desc.add_options()("out", po::value<std::string>(),
                     "file to write (.pt): TorchScript for an imported model, a torch.load-readable checkpoint for "
                     "the native network");
  PipelineSession::add_model_option(desc);
  auto session = PipelineSession::open("export", "Write the adapted model of a round for use outside jcas.", desc, args,
                                       WorkdirAccess::read);
  if (!session) return 0;
  const std::string out = require<std::string>(session->values, "out");
  const ChosenModel model = session->chosen_model();
  TemporaryPath tmp(out);
  if (auto* script = dynamic_cast<TorchScriptModel*>(model.stored.net.get())) {
    script->save(tmp.path().string());
  } else if (auto* native = dynamic_cast<DeepLabImpl*>(model.stored.net.get())) {
    const auto bytes = native_checkpoint(*native, model.stored.inference);
    std::ofstream file(tmp.path(), std::ios::binary);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!file) throw UserError(fmt::format("cannot write '{}'", tmp.path().string()));
  } else {
    throw UserError(fmt::format("{} is a kind of model export does not know", model.description()));
  }
  tmp.commit();
  log::info("exported {} to {}", model.description(), out);
  return 0;
}

}  // namespace jcas::commands
