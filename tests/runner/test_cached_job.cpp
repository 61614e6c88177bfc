// The cache engine in-process, with a fake compute: what is reused, what is recomputed and why, and
// that a failed or uncommitted job leaves nothing behind.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "adapters/io/h5_store.h"
#include "pipeline/cache/cached_job.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
namespace fs = std::filesystem;

namespace {

// A job writing `value` whose fingerprint follows its options and inputs, counting its computes.
struct FakeJob {
  int computed = 0;
  CachedJob job(const fs::path& path, double value, const std::string& input = "aaaa") {
    CachedJob j;
    j.stage = "fake";
    j.round = 1;
    j.label = "fake[1]";
    j.path = path;
    j.options = {{"value", std::to_string(value)}};
    j.inputs = {{"make[0]", input}};
    j.fingerprint = job_fingerprint(j.stage, j.round, "value=" + std::to_string(value) + "\n", j.inputs);
    j.compute = [this, value](H5Writer& out) {
      ++computed;
      out.write("x", torch::full({2}, value));
      return Metrics{{"value", value}};
    };
    return j;
  }
};

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST(CachedJob, RunsWhenMissingAndIsReusedAfterwards) {
  jcas::testing::TempDir dir;
  FakeJob fake;
  const CachedJob job = fake.job(dir.path() / "r" / "fake.h5", 1.5);
  EXPECT_EQ(cache_status(job).state, CacheState::missing);
  const StageRecord first = cached_or_run(job);
  const StageRecord again = cached_or_run(job);
  EXPECT_EQ(fake.computed, 1);
  EXPECT_EQ(cache_status(job).state, CacheState::done);
  EXPECT_EQ(again.fingerprint, first.fingerprint);
  EXPECT_EQ(again.metrics.at("value"), 1.5);
  EXPECT_EQ(again.options, job.options);
  EXPECT_EQ(again.inputs, job.inputs);
  // The threads it ran with are stated in the file (read back by the second call).
  EXPECT_EQ(first.threads, torch::get_num_threads());
  EXPECT_EQ(again.threads, first.threads);
  EXPECT_TRUE(torch::equal(H5Reader(job.path).read("x"), torch::full({2}, 1.5)));
}

TEST(CachedJob, ChangedOptionsOrInputsAreStaleNamingWhatChanged) {
  jcas::testing::TempDir dir;
  FakeJob fake;
  const fs::path path = dir.path() / "fake.h5";
  run_job(fake.job(path, 1.0));
  const CacheStatus options = cache_status(fake.job(path, 2.0));
  EXPECT_EQ(options.state, CacheState::stale);
  EXPECT_NE(options.reason.find("options changed: value 1.000000 -> 2.000000"), std::string::npos) << options.reason;
  const CacheStatus inputs = cache_status(fake.job(path, 1.0, "bbbb"));
  EXPECT_EQ(inputs.state, CacheState::stale);
  EXPECT_EQ(inputs.reason, "inputs changed: make[0]");
  cached_or_run(fake.job(path, 2.0));
  EXPECT_EQ(fake.computed, 2);
  EXPECT_EQ(cache_status(fake.job(path, 2.0)).state, CacheState::done);
}

TEST(CachedJob, AFileOfAnotherStageOrAForeignFileIsStale) {
  jcas::testing::TempDir dir;
  FakeJob fake;
  const fs::path path = dir.path() / "fake.h5";
  CachedJob other = fake.job(path, 1.0);
  other.round = 2;
  run_job(other);
  const CacheStatus held = cache_status(fake.job(path, 1.0));
  EXPECT_EQ(held.state, CacheState::stale);
  EXPECT_EQ(held.reason, "file holds fake[2]");

  std::ofstream(path, std::ios::trunc) << "not an HDF5 file";
  const CacheStatus foreign = cache_status(fake.job(path, 1.0));
  EXPECT_EQ(foreign.state, CacheState::stale);
  EXPECT_NE(foreign.reason.find(path.string()), std::string::npos) << foreign.reason;
  EXPECT_FALSE(foreign.record.has_value());
  cached_or_run(fake.job(path, 1.0));  // replaced by a good result
  EXPECT_EQ(cache_status(fake.job(path, 1.0)).state, CacheState::done);
}

TEST(CachedJob, AFailedComputeKeepsTheOldResultAndLeavesNoTemporary) {
  jcas::testing::TempDir dir;
  FakeJob fake;
  const fs::path path = dir.path() / "fake.h5";
  const StageRecord old = run_job(fake.job(path, 1.0));
  CachedJob failing = fake.job(path, 2.0);
  failing.compute = [](H5Writer& out) -> Metrics {
    out.write("x", torch::zeros({3}));
    throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(cached_or_run(failing), std::runtime_error);
  EXPECT_EQ(files_in(dir.path()), 1u);
  EXPECT_EQ(read_record(path).fingerprint, old.fingerprint);
}

// What a data-parallel run's other ranks do: compute in memory, never touching the work directory.
TEST(CachedJob, AnUncommittedRunWritesNothing) {
  jcas::testing::TempDir dir;
  FakeJob fake;
  CachedJob job = fake.job(dir.path() / "round-0" / "fake.h5", 1.0);
  const auto compute = job.compute;
  job.compute = [&](H5Writer& out) {
    out.write("big", torch::zeros({1 << 20}));
    EXPECT_EQ(files_in(dir.path()), 0u) << "a temporary file while computing";
    return compute(out);
  };
  const StageRecord record = run_job(job, /*commit=*/false);
  EXPECT_EQ(fake.computed, 1);
  EXPECT_EQ(record.metrics.at("value"), 1.0);
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(CachedJob, TheFingerprintCoversIdentityOptionsAndInputs) {
  const nlohmann::json in = {{"a[0]", "1"}};
  const std::string base = job_fingerprint("s", 0, "k=1\n", in);
  EXPECT_EQ(job_fingerprint("s", 0, "k=1\n", in), base);
  EXPECT_NE(job_fingerprint("t", 0, "k=1\n", in), base);
  EXPECT_NE(job_fingerprint("s", 1, "k=1\n", in), base);
  EXPECT_NE(job_fingerprint("s", 0, "k=2\n", in), base);
  EXPECT_NE(job_fingerprint("s", 0, "k=1\n", {{"a[0]", "2"}}), base);
  EXPECT_NE(job_fingerprint("s", 0, "k=1\n", {{"b[0]", "1"}}), base);
  EXPECT_EQ(base.size(), 16u);
}
