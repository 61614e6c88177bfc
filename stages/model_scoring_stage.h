#pragma once
// A stage that scores one model: the source model (once) or the model of round r+1 (per round).
// Every rank computes it (sharded inference), and its result lies in round-0/ beside the rounds'
// results, where reports read a run's figures side by side.
#include <string>
#include <utility>
#include <vector>

#include "pipeline/runner/stage.h"
#include "stages/dataset_options.h"
#include "stages/stage_inputs.h"

namespace jcas {

template <class Options>
class ModelScoringStage : public StageWith<Options> {
 public:
  ModelScoringStage(std::string name, bool of_source, std::string summary)
      : name_(std::move(name)), of_source_(of_source), summary_(std::move(summary)) {}
  std::string name() const override { return name_; }
  std::string summary() const override { return summary_; }
  bool runs_on_every_rank() const override { return true; }
  bool per_round() const override { return !of_source_; }
  bool result_in_workdir() const override { return false; }

 protected:
  std::vector<StageKey> input_keys(const StageContext& ctx, const Options&, int round) const override {
    return with_data_input(ctx, {producer(round)});
  }
  // The stage whose result holds the model scored, and how log lines name this stage's run.
  StageKey producer(int round) const { return model_of_round(of_source_ ? 0 : round + 1); }
  std::string label(int round) const { return of_source_ ? name_ : StageKey{name_, round}.label(); }

 private:
  std::string name_;
  bool of_source_;
  std::string summary_;
};

}  // namespace jcas
