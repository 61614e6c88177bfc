// `jcas export`: the model of a round for use outside jcas. A TorchScript source model is written
// back as TorchScript with its adapted parameters (torch.jit.load reads it).
#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/temporary_path.h"
#include "stages/stage_inputs.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

int export_model(const Args& args) {
  po::options_description desc("export");
  desc.add_options()("model", po::value<int>(), "which model: 0 = the source model, r = the model after r rounds "
                                                "(default: the last round's)")(
      "out", po::value<std::string>(), "TorchScript file to write (.pt)");
  auto session = PipelineSession::open("export", "Write the adapted model of a round for use outside jcas.", desc, args,
                                       WorkdirAccess::read);
  if (!session) return 0;
  const auto& vm = session->values;
  const int rounds = session->context->run().rounds;
  const int which = vm.count("model") ? vm["model"].as<int>() : rounds;
  if (which < 0 || which > rounds)
    throw UserError(fmt::format("--model: {} is not a model of this pipeline (0..{})", which, rounds));
  const std::string out = require<std::string>(vm, "out");
  const StageKey producer = model_of_round(which);
  const PlannedStage* p = session->plan->find(producer);
  if (!p || session->plan->status(*p).state != CacheState::done)
    throw UserError(fmt::format("the model {} ({}) is not computed: run `jcas run` first", which, producer.label()));
  StoredModel stored = load_model(*session->context, producer);
  auto* script = dynamic_cast<TorchScriptModel*>(stored.net.get());
  if (!script)
    throw UserError(fmt::format(
        "{} holds the native network: its weights are the datasets under model/ of {} (h5py reads them); "
        "TorchScript export is for models imported with --source.torchscript",
        producer.label(), p->path().string()));
  TemporaryPath tmp(out);
  script->save(tmp.path().string());
  tmp.commit();
  log::info("exported {} ({}) to {}", which == 0 ? "the source model" : fmt::format("the model after {} round(s)", which),
            producer.label(), out);
  return 0;
}

}  // namespace jcas::commands
