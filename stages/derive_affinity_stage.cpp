// T_{C->A} from this round's T_C and the pseudo labels' class distribution (closed form).
#include <fmt/format.h>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/log.h"
#include "pipeline/method/class_to_affinity.h"
#include "stages/pipeline_stages.h"

namespace jcas {
namespace {

class DeriveAffinityStage : public Stage {
 public:
  std::string name() const override { return "derive_affinity"; }
  std::string summary() const override { return "derive the affinity NTM T_{C->A} in closed form"; }
  std::vector<std::string> option_keys(int) const override { return {}; }
  std::vector<StageKey> inputs(const StageContext&, int round) const override { return {{"estimate_ntm", round}}; }

  std::map<std::string, double> run(const StageContext& ctx, int round, const std::string&,
                                    H5Writer& out) const override {
    H5Reader in(ctx.result_path({"estimate_ntm", round}));
    auto t_c = in.read("class_ntm"), dist = in.read("class_dist");
    auto t_a = class_to_affinity(t_c, dist);
    out.write("affinity_ntm", t_a, "clean pair (0 dissimilar, 1 similar), noisy pair; rows sum to 1");
    out.write("class_ntm", t_c, "the T_C it was derived from");
    out.write("class_dist", dist, "the class distribution it was derived from");
    auto a = t_a.accessor<float, 2>();
    log::info("derive_affinity[{}]: T_C->A = [[{:.4f}, {:.4f}], [{:.4f}, {:.4f}]]", round, a[0][0], a[0][1], a[1][0],
              a[1][1]);
    return {{"p_sim_given_dis", a[0][1]}, {"p_sim_given_sim", a[1][1]}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_derive_affinity_stage() { return std::make_unique<DeriveAffinityStage>(); }

}  // namespace jcas
