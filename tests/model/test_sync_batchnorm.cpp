// Synchronised BatchNorm against its definition: replicas that each hold part of a batch, summing
// over each other (here threads meeting at an in-memory all-reduce), compute what one BatchNorm
// over the whole batch computes: outputs, running statistics and, with each replica's loss the mean
// over its own samples and the gradients averaged weighted by samples, the gradients — for unequal
// shares and for a replica without samples.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "pipeline/model/sync_batchnorm.h"

using namespace jcas;

namespace {

// An all-reduce between `size` threads: each call returns once every thread has added its tensors.
class ThreadAllReduce {
 public:
  explicit ThreadAllReduce(int size) : size_(size) {}
  void operator()(std::vector<torch::Tensor>& tensors) {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t round = round_;
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (arrived_ == 0) sums_.push_back(tensors[i].detach().clone());
      else sums_[i] += tensors[i].detach();
    }
    if (++arrived_ == size_) {
      result_ = sums_;
      sums_.clear();
      arrived_ = 0;
      ++round_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return round_ != round; });
    }
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i] = result_[i].clone();
  }

 private:
  int size_, arrived_ = 0;
  int64_t round_ = 0;
  std::vector<torch::Tensor> sums_, result_;
  std::mutex mutex_;
  std::condition_variable changed_;
};

struct Replica {
  torch::Tensor output, input_grad, weight_grad, bias_grad, running_mean, running_var;
};

// Two steps of a BatchNorm layer on `x` split into `shares` samples per replica (threads), each
// replica's loss the mean of output x target over its samples. One share: plain BatchNorm2d.
std::vector<Replica> run_replicas(const torch::Tensor& x, const torch::Tensor& target, const std::vector<int64_t>& shares) {
  ThreadAllReduce reduce(static_cast<int>(shares.size()));
  std::vector<Replica> out(shares.size());
  std::vector<std::thread> threads;
  int64_t start = 0;
  for (size_t r = 0; r < shares.size(); ++r) {
    threads.emplace_back([&, r, start] {
      SyncBatchNorm2d bn(x.size(1));
      bn->train();
      torch::NoGradGuard no_grad;
      bn->weight.copy_(torch::linspace(0.5, 1.5, x.size(1)));
      bn->bias.copy_(torch::linspace(-0.2, 0.2, x.size(1)));
      if (shares.size() > 1) bn->set_replicas([&](std::vector<torch::Tensor>& t) { reduce(t); }, static_cast<double>(shares[r]));
      for (int step = 0; step < 2; ++step) {
        torch::AutoGradMode grad(true);
        auto mine = x.narrow(0, start, shares[r]).detach().requires_grad_(true);
        bn->zero_grad();
        auto y = bn(mine);
        (y * target.narrow(0, start, shares[r])).mean().backward();
        out[r] = {y.detach(), mine.grad(), bn->weight.grad().clone(), bn->bias.grad().clone(),
                  bn->running_mean.clone(), bn->running_var.clone()};
      }
    });
    start += shares[r];
  }
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

TEST(SyncBatchNorm, ReplicasComputeWhatOneBatchNormOverTheWholeBatchComputes) {
  torch::manual_seed(0);
  const auto x = torch::randn({3, 4, 5, 6}) * 3 + 2, target = torch::randn({3, 4, 5, 6});
  // The whole batch in one layer without synchronisation: torch::nn::BatchNorm2d's computation.
  const auto whole = run_replicas(x, target, {3});
  for (const std::vector<int64_t>& shares : {std::vector<int64_t>{2, 1}, std::vector<int64_t>{3, 0}}) {
    SCOPED_TRACE(::testing::Message() << "shares " << shares[0] << "+" << shares[1]);
    const auto parts = run_replicas(x, target, shares);
    auto weight_grad = torch::zeros({4}), bias_grad = torch::zeros({4});
    int64_t start = 0;
    for (size_t r = 0; r < shares.size(); ++r) {
      const double share = static_cast<double>(shares[r]) / 3;
      EXPECT_TRUE(torch::allclose(parts[r].output, whole[0].output.narrow(0, start, shares[r]), 1e-5, 1e-5));
      // A replica's input gradient is that of the whole batch's loss, rescaled to its own samples.
      if (shares[r] > 0)
        EXPECT_TRUE(torch::allclose(parts[r].input_grad * share, whole[0].input_grad.narrow(0, start, shares[r]),
                                    1e-5, 1e-7));
      weight_grad += parts[r].weight_grad * share;
      bias_grad += parts[r].bias_grad * share;
      EXPECT_TRUE(torch::allclose(parts[r].running_mean, whole[0].running_mean, 1e-5, 1e-6));
      EXPECT_TRUE(torch::allclose(parts[r].running_var, whole[0].running_var, 1e-5, 1e-6));
      start += shares[r];
    }
    EXPECT_TRUE(torch::allclose(weight_grad, whole[0].weight_grad, 1e-5, 1e-7)) << weight_grad << whole[0].weight_grad;
    EXPECT_TRUE(torch::allclose(bias_grad, whole[0].bias_grad, 1e-5, 1e-7));
  }
}

TEST(SyncBatchNorm, WithoutReplicasItIsBatchNorm2d) {
  torch::manual_seed(1);
  const auto x = torch::randn({2, 3, 4, 4});
  SyncBatchNorm2d sync(3);
  torch::nn::BatchNorm2d plain(3);
  sync->train();
  plain->train();
  EXPECT_TRUE(torch::equal(sync(x), plain(x)));
  EXPECT_TRUE(torch::equal(sync->running_var, plain->running_var));
  std::vector<std::string> names;
  for (const auto& p : sync->named_parameters()) names.push_back(p.key());
  for (const auto& b : sync->named_buffers()) names.push_back(b.key());
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
}
