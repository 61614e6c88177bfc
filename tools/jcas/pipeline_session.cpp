#include "tools/jcas/pipeline_session.h"

#include "adapters/foundation/log.h"
#include "stages/pipeline_stages.h"

namespace jcas {

std::unique_ptr<PipelineSession> PipelineSession::open(const std::string& command, const std::string& summary,
                                                       const po::options_description& extra,
                                                       const std::vector<std::string>& args,
                                                       const std::vector<std::string>& positional,
                                                       const std::string& file_section) {
  po::options_description desc("Pipeline options (INI: top-level keys, then [data], [synth], [model], ...)");
  declare_pipeline_options(desc);
  po::options_description all;
  all.add(extra).add(desc);
  auto parsed = parse_options(command, summary, all, args, positional, file_section);
  if (parsed.help) return nullptr;
  auto s = std::make_unique<PipelineSession>();
  s->values = parsed.values;
  apply_threads_option(s->values);
  PipelineConfig config = PipelineConfig::from(s->values);
  std::filesystem::path workdir = config.text("workdir");
  s->context = std::make_unique<StageContext>(std::move(config), workdir);
  s->context->device();  // validates --device early
  s->stages = pipeline_stages();
  s->plan = std::make_unique<PipelinePlan>(*s->context, s->stages);
  return s;
}

}  // namespace jcas
