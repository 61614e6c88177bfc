// The execution context: one process is a world of size 1; torchrun's environment is read and
// checked (several processes: test_distributed.cpp); --device cuda without CUDA names the LibTorch
// needed before anything runs.
#include <gtest/gtest.h>

#include <cstdlib>

#include <torch/torch.h>

#include "adapters/foundation/error.h"
#include "adapters/foundation/torchrun_environment.h"
#include "pipeline/execution/execution_context.h"

using namespace jcas;

namespace {
struct Env {
  Env(const char* rank, const char* world) {
    setenv("RANK", rank, 1);
    setenv("WORLD_SIZE", world, 1);
  }
  ~Env() {
    unsetenv("RANK");
    unsetenv("WORLD_SIZE");
  }
};
}  // namespace

TEST(ExecutionContext, OneProcessByDefault) {
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  ExecutionContext e = ExecutionContext::from(RunOptions{});
  EXPECT_EQ(e.rank(), 0);
  EXPECT_EQ(e.world_size(), 1);
  EXPECT_TRUE(e.is_writer());
  EXPECT_TRUE(e.device().is_cpu());
  std::vector<size_t> order = {3, 1, 2, 0};
  EXPECT_EQ(e.shard(order), order);
}

TEST(ExecutionContext, TorchrunEnvironment) {
  {
    Env env("0", "1");
    EXPECT_EQ(ExecutionContext::from(RunOptions{}).world_size(), 1);
  }
  for (auto [rank, world] : std::vector<std::pair<const char*, const char*>>{{"1", "1"}, {"0", "zero"}, {"0", "2x"}, {"2", "2"}, {"0", "0"}}) {
    Env env(rank, world);
    EXPECT_THROW(ExecutionContext::from(RunOptions{}), UserError) << rank << "/" << world;
  }
  // The local rank (which GPU a process of a node takes) is read beside them.
  Env env("1", "4");
  setenv("LOCAL_RANK", "1", 1);
  setenv("LOCAL_WORLD_SIZE", "2", 1);
  const TorchrunEnvironment t = read_torchrun_environment();
  EXPECT_EQ(t.rank, 1);
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.local_world_size, 2);
  setenv("LOCAL_RANK", "-1", 1);
  EXPECT_THROW(read_torchrun_environment(), UserError);
  unsetenv("LOCAL_RANK");
  unsetenv("LOCAL_WORLD_SIZE");
}

TEST(ExecutionContext, CudaWithoutCudaNamesTheLibTorchNeeded) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  RunOptions run;
  run.device = DeviceKind::cuda;
  try {
    ExecutionContext::from(run);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("-DTorch_DIR"), std::string::npos) << e.what();
  }
}
