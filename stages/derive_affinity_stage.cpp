// T_{C->A} from this round's T_C and the pseudo labels' class distribution (closed form).
#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "pipeline/method/class_to_affinity.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_results.h"

namespace jcas {
namespace {

// The closed form has no options: its result is decided by its input alone.
struct NoOptions {
  void bind(OptionBinder&) {}
  void check() const {}
};

class DeriveAffinityStage : public StageWith<NoOptions> {
 public:
  std::string name() const override { return "derive_affinity"; }
  std::string summary() const override { return "derive the affinity NTM T_{C->A} in closed form"; }

 protected:
  std::vector<StageKey> input_keys(const StageContext&, const NoOptions&, int round) const override {
    return {{"estimate_ntm", round}};
  }

  Metrics compute(const StageContext& ctx, const NoOptions&, int round, const std::string&,
                  H5Writer& out) const override {
    NtmEstimate est = NtmEstimate::read(ctx.result_path({"estimate_ntm", round}));
    AffinityDerivation d{class_to_affinity(est.class_ntm, est.class_dist), est.class_ntm, est.class_dist};
    d.write(out);
    auto a = d.affinity_ntm.accessor<float, 2>();
    log::info("derive_affinity[{}]: T_C->A = [[{:.4f}, {:.4f}], [{:.4f}, {:.4f}]]", round, a[0][0], a[0][1], a[1][0],
              a[1][1]);
    return {{"p_sim_given_dis", a[0][1]}, {"p_sim_given_sim", a[1][1]}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_derive_affinity_stage() { return std::make_unique<DeriveAffinityStage>(); }

}  // namespace jcas
