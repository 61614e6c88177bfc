#pragma once
// A pipeline stage: a small class with its options struct, that names its inputs and computes one
// HDF5 result. The runner decides when it runs; the stage only computes.
//
// A stage derives from StageWith<Options>, where Options has bind() and check()
// (adapters/foundation/option_binder.h). The runner binds the options once per plan; the
// fingerprint of the result hashes exactly those bindings, and the stage reads its options only
// from the bound struct, so what changes a result and what the fingerprint covers cannot drift.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "adapters/io/dataset_check.h"
#include "adapters/io/file_digest.h"
#include "pipeline/cache/stage_record.h"
#include "pipeline/execution/execution_context.h"

namespace jcas {

class H5Writer;
class Stage;

struct StageKey {
  std::string name;
  int round = 0;
  std::string label() const;  // "retrain[1]"
  bool operator==(const StageKey& o) const { return name == o.name && round == o.round; }
};

// Where things live in the work directory and how this process runs; shared by the runner and
// every stage.
class StageContext {
 public:
  // `stages`: the pipeline's stages, whose declarations (result_in_workdir) place their results.
  StageContext(OptionValues values, RunOptions run, ExecutionContext execution,
               const std::vector<std::unique_ptr<Stage>>& stages);
  // Every resolved option: for the applications (report, ablation) and for plan membership
  // (whether the data is generated). A stage's result reads its options only from the struct it
  // bound, so its fingerprint covers them.
  const OptionValues& values() const { return values_; }
  const RunOptions& run() const { return run_; }
  const ExecutionContext& execution() const { return execution_; }
  const std::filesystem::path& workdir() const { return workdir_; }
  // Content digests of the files stages read, memoised in the work directory.
  FileDigests& digests() const { return *digests_; }
  // A stage's result in its round's folder, or in the work directory when the stage says so.
  std::filesystem::path result_path(const StageKey& key) const;
  std::filesystem::path checkpoint_path(const StageKey& key) const;
  std::filesystem::path round_dir(int round) const;

 private:
  OptionValues values_;
  RunOptions run_;
  ExecutionContext execution_;
  std::filesystem::path workdir_;
  std::unique_ptr<FileDigests> digests_;
  std::vector<std::string> in_workdir_;  // names of the stages whose results lie in the work directory
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  // Whether the stage runs once per round (false: once, listed under round 0).
  virtual bool per_round() const { return true; }
  // Whether its result file lies in the work directory itself (else in round-R/): the once-only
  // stages whose results every round uses (the data, the source model).
  virtual bool result_in_workdir() const { return !per_round(); }
  // Whether every rank of a data-parallel run computes it (the trainer's stages and the sharded
  // inferences, which talk to the other ranks); otherwise rank 0 computes it alone and the others
  // wait for its result. Either way only rank 0 commits files.
  virtual bool runs_on_every_rank() const { return false; }
  // Whether the result depends on how many ranks computed it: training, whose global batch is the
  // ranks' batches together. Its fingerprint (and so its checkpoint key) then names the world
  // size when there is more than one rank, so a work directory made with W ranks is stale for
  // another W, and a one-process result keeps the fingerprint it always had.
  virtual bool depends_on_world_size(const BoundOptionsBase&) const { return false; }
  // The revision of what the stage computes under these options, raised when that changes under
  // the same option text (a method redefined as its paper runs it). Non-zero revisions enter the
  // fingerprint, so results cached before are stale and the others keep theirs.
  virtual int revision(const BoundOptionsBase&) const { return 0; }

  // The stage's options filled from `values` and checked (UserError naming a bad value).
  virtual std::unique_ptr<BoundOptionsBase> bind_options(const OptionValues& values) const = 0;
  // Why the stage is not part of this pipeline ("" = it is): the data stage only generates data
  // when none is given, the evaluations need the target's ground truth.
  virtual std::string skip_reason(const StageContext&, const BoundOptionsBase&) const = 0;
  // Checks that need the context (e.g. a CPU-only implementation with --device cuda); called for
  // every stage before anything runs.
  virtual void validate(const StageContext&, const BoundOptionsBase&) const {}
  virtual std::vector<StageKey> inputs(const StageContext&, const BoundOptionsBase&, int round) const = 0;
  // What the stage reads from outside the cache: dataset splits and other files (imported
  // weights). Their contents enter the fingerprint, and the splits are checked before the first
  // stage of a run computes anything.
  virtual std::vector<DatasetRead> dataset_reads(const StageContext&, const BoundOptionsBase&, int round) const = 0;
  virtual std::vector<std::filesystem::path> file_reads(const StageContext&, const BoundOptionsBase&,
                                                        int round) const = 0;
  // Computes the result into `out` and returns its headline figures. The runner adds the record
  // and commits the file. `fingerprint` is the one the result will carry; long stages key their
  // checkpoints with it.
  virtual Metrics run(const StageContext& ctx, const BoundOptionsBase& options, int round,
                      const std::string& fingerprint, H5Writer& out) const = 0;
};

template <class Options>
class StageWith : public Stage {
 public:
  std::unique_ptr<BoundOptionsBase> bind_options(const OptionValues& values) const final {
    return std::make_unique<BoundOptions<Options>>(values);
  }
  std::string skip_reason(const StageContext& ctx, const BoundOptionsBase& o) const final {
    return why_skipped(ctx, typed(o));
  }
  void validate(const StageContext& ctx, const BoundOptionsBase& o) const final { check_context(ctx, typed(o)); }
  std::vector<StageKey> inputs(const StageContext& ctx, const BoundOptionsBase& o, int round) const final {
    return input_keys(ctx, typed(o), round);
  }
  std::vector<DatasetRead> dataset_reads(const StageContext& ctx, const BoundOptionsBase& o, int round) const final {
    return splits_read(ctx, typed(o), round);
  }
  std::vector<std::filesystem::path> file_reads(const StageContext& ctx, const BoundOptionsBase& o,
                                                int round) const final {
    return files_read(ctx, typed(o), round);
  }
  Metrics run(const StageContext& ctx, const BoundOptionsBase& o, int round, const std::string& fingerprint,
              H5Writer& out) const final {
    return compute(ctx, typed(o), round, fingerprint, out);
  }
  bool depends_on_world_size(const BoundOptionsBase& o) const final { return trains(typed(o)); }
  int revision(const BoundOptionsBase& o) const final { return computation_revision(typed(o)); }

 protected:
  // Whether the stage trains with these options (see depends_on_world_size).
  virtual bool trains(const Options&) const { return false; }
  virtual int computation_revision(const Options&) const { return 0; }
  virtual std::string why_skipped(const StageContext&, const Options&) const { return ""; }
  virtual void check_context(const StageContext&, const Options&) const {}
  virtual std::vector<StageKey> input_keys(const StageContext&, const Options&, int round) const = 0;
  virtual std::vector<DatasetRead> splits_read(const StageContext&, const Options&, int) const { return {}; }
  virtual std::vector<std::filesystem::path> files_read(const StageContext&, const Options&, int) const { return {}; }
  virtual Metrics compute(const StageContext&, const Options&, int round, const std::string& fingerprint,
                          H5Writer& out) const = 0;

 private:
  static const Options& typed(const BoundOptionsBase& o) { return static_cast<const BoundOptions<Options>&>(o).get(); }
};

}  // namespace jcas
