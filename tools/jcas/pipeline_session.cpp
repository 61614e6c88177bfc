#include "tools/jcas/pipeline_session.h"

#include "adapters/foundation/log.h"
#include "stages/pipeline_stages.h"

namespace jcas {

std::unique_ptr<PipelineSession> PipelineSession::open(const std::string& command, const std::string& summary,
                                                       const po::options_description& extra,
                                                       const std::vector<std::string>& args,
                                                       const std::vector<std::string>& positional,
                                                       const std::string& file_section) {
  auto s = std::make_unique<PipelineSession>();
  s->stages = pipeline_stages();
  s->schema = std::make_unique<OptionSchema>(s->stages);
  po::options_description desc("Pipeline options (INI: top-level keys, then [data], [synth], [model], ...)");
  declare_options(s->schema->bindings(), desc);
  po::options_description all;
  all.add(extra).add(desc);
  auto parsed = parse_options(command, summary, all, args, positional, file_section);
  if (parsed.help) return nullptr;
  s->values = parsed.values;
  OptionValues values = resolve_options(s->schema->bindings(), s->values);
  RunOptions run = values.get<RunOptions>();
  set_thread_count(run.threads);
  ExecutionContext execution = ExecutionContext::from(run);
  s->context = std::make_unique<StageContext>(std::move(values), run, execution);
  s->plan = std::make_unique<PipelinePlan>(*s->context, s->stages);
  return s;
}

}  // namespace jcas
