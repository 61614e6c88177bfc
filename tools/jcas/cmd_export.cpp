// `jcas export`: the model of a round for use outside jcas. A TorchScript source model is written
// back as TorchScript with its adapted parameters (torch.jit.load reads it); the native network as a
// checkpoint torch.load reads (SegmentationModel::export_for_pytorch).
#include "adapters/foundation/log.h"
#include "adapters/foundation/temporary_path.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

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
  model.stored.net->export_for_pytorch(tmp.path().string(), model.stored.inference.readout());
  tmp.commit();
  log::info("exported {} to {}", model.description(), out);
  return 0;
}

}  // namespace jcas::commands
