// Data-parallel runs over c10d (Gloo over 127.0.0.1), end to end through the CLI: two ranks of
// batch 2 train as one process of batch 4, sharded inference reproduces one process's results
// bit for bit, and a rank that dies stops the run in bounded time with nothing half-written, after
// which the next run resumes from the checkpoint.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <regex>
#include <thread>

#include "adapters/io/h5_store.h"
#include "pipeline/runner/workdir_lock.h"
#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"

using namespace jcas;
using namespace jcas::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// BatchNorm frozen: with per-rank batch statistics two batches of 2 normalise differently from one
// of 4, so only frozen statistics make the two splits the same computation. A 60 s timeout bounds
// every wait between the ranks, so a test that hangs fails in about a minute.
std::vector<std::string> parallel_options(const fs::path& workdir, int batch, int source_epochs = 2) {
  auto args = concat(tiny_options(workdir), {"--model.batchnorm", "frozen", "--source.batch_size",
                                             std::to_string(batch), "--retrain.batch_size", std::to_string(batch),
                                             "--dist_timeout", "60"});
  *(std::find(args.begin(), args.end(), "--source.epochs") + 1) = std::to_string(source_epochs);
  // 9 source images: in each epoch's last step rank 0 has 1 image and rank 1 none, which the
  // sample-weighted average must combine as one process's last batch of 1.
  *(std::find(args.begin(), args.end(), "--synth.source_train") + 1) = "9";
  return args;
}

// The largest absolute difference between the tensors under `group` of two files.
double max_difference(const fs::path& a, const fs::path& b, const std::string& group) {
  H5Reader ra(a), rb(b);
  double worst = 0;
  std::function<void(const std::string&)> walk = [&](const std::string& g) {
    for (const auto& name : ra.list(g)) {
      const std::string path = g + "/" + name;
      if (ra.is_group(path)) {
        walk(path);
        continue;
      }
      auto x = ra.read(path).to(torch::kFloat64), y = rb.read(path).to(torch::kFloat64);
      EXPECT_EQ(x.sizes(), y.sizes()) << path;
      if (x.sizes() == y.sizes()) worst = std::max(worst, (x - y).abs().max().item<double>());
    }
  };
  walk(group);
  return worst;
}

// Waits up to `limit` for `pid`; its exit code, or -1 when it is still running.
int wait_at_most(int pid, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

// Whether the child `pid` has not ended (it stays waitable).
bool running(int pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

// Whether `file` appears within `limit` while `pid` runs.
bool wait_for_file(const fs::path& file, int pid, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until && running(pid)) {
    if (fs::exists(file)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// One process of batch 4 in `one` and two ranks of batch 2 in `two` (`two_only`: options of the
// second run alone), both with `extra`.
void run_one_and_two_ranks(const fs::path& one, const fs::path& two, const std::vector<std::string>& extra,
                           const std::vector<std::string>& two_only = {}) {
  auto r1 = run_jcas(concat(concat({"run"}, parallel_options(one, 4)), extra));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r2 = run_jcas(concat(concat(concat({"run", "--nproc", "2"}, two_only), parallel_options(two, 2)), extra));
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
}

// Starts `jcas run` as rank `rank` of 2 the way torchrun does: through the environment.
int spawn_rank(int rank, int port, const std::vector<std::string>& args, const fs::path& log) {
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  const int pid = spawn_jcas(args, log.string());
  for (const char* v : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
  return pid;
}

std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".tmp") found.push_back(e.path().string());
  return found;
}

}  // namespace

// Tolerance: the ranks' gradients are summed in another order than one process sums them (float32),
// which moves weights by rounding only; 1e-4 is far above that and far below any real difference.
// AdaBN is off: recomputed after retraining, running variances of a few hundred move by rounding
// in proportion to their size, and what this compares is the training.
TEST(DataParallel, TwoRanksOfBatchTwoTrainAsOneProcessOfBatchFour) {
  const fs::path one = fresh_dir("dp_world1"), two = fresh_dir("dp_world2");
  const std::vector<std::string> no_adabn = {"--pseudo_label.adabn", "false"};
  ASSERT_NO_FATAL_FAILURE(run_one_and_two_ranks(one, two, no_adabn));

  std::printf("source loss %.9g vs %.9g; weights source %g retrain %g\n", metric_of(one / "source.h5", "final_loss"),
              metric_of(two / "source.h5", "final_loss"),
              max_difference(one / "source.h5", two / "source.h5", "/model"),
              max_difference(one / "round-0/retrain.h5", two / "round-0/retrain.h5", "/model"));
  EXPECT_NEAR(metric_of(one / "source.h5", "final_loss"), metric_of(two / "source.h5", "final_loss"), 1e-4);
  EXPECT_LT(max_difference(one / "source.h5", two / "source.h5", "/model"), 1e-4);
  const fs::path retrain = fs::path("round-0") / "retrain.h5";
  auto loss1 = H5Reader(one / retrain).read("epoch_loss"), loss2 = H5Reader(two / retrain).read("epoch_loss");
  ASSERT_EQ(loss1.sizes(), loss2.sizes());
  EXPECT_LT((loss1 - loss2).abs().max().item<double>(), 1e-4) << loss1 << loss2;
  EXPECT_LT(max_difference(one / retrain, two / retrain, "/model"), 1e-4);
  // Rank 0 alone wrote the work directory: one run log, no temporaries.
  EXPECT_TRUE(temporaries(two).empty());
  // The world size is part of a trained result's identity: one process with the 2-rank run's
  // options (a global batch of 2, not 4) finds the training stages stale, not cached.
  auto status = run_jcas(concat(concat({"status", "--json"}, parallel_options(two, 2)), no_adabn));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find(R"("stage":"source","state":"stale")"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find(R"("stage":"data","state":"done")"), std::string::npos) << status.output;
  const std::string log = read_text(two / "jcas.log");
  EXPECT_NE(log.find(", rank 0 of 2, OpenMP waiting: "), std::string::npos) << log;  // the run log names the world size
  fs::remove_all(one);
  fs::remove_all(two);
}

TEST(DataParallel, ShardedInferenceEqualsOneProcessExactly) {
  // An imported source model, so that it does not depend on the world size: one process runs the
  // pipeline, then two ranks redo its inferences; retraining (whose result does depend on the world
  // size) is stale for two ranks and re-runs with the evaluation of its model.
  const fs::path dir = fresh_dir("dp_inference");
  const auto options = concat(tiny_options(dir), {"--source.weights", (completed_workdir() / "source.h5").string()});
  ASSERT_EQ(run_jcas(concat({"run"}, options)).exit_code, 0);
  const fs::path labels = dir / "round-0" / "pseudo_label.h5";
  const auto before = H5Reader(labels).read("labels");
  const auto probabilities = H5Reader(labels).read("probabilities");
  const double mjac = metric_of(dir / "round-0" / "evaluate_source.h5", "test_mjac");
  const fs::path criteria = dir / "round-0" / "criteria_source.h5";
  const double snd = metric_of(criteria, "lf_snd"), flip = metric_of(criteria, "lf_flip_agreement");
  auto r = run_jcas(concat({"run", "--nproc", "2", "--dist_timeout", "60", "--force", "pseudo_label", "--force",
                            "evaluate_source", "--force", "criteria_source"},
                           options));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"evaluate_source[0]", "criteria_source[0]", "pseudo_label[0]",
                                                            "retrain[0]", "evaluate[0]", "criteria[0]"}))
      << r.output;
  // The label-free criteria, mirrored predictions included, as one process computes them.
  EXPECT_EQ(metric_of(criteria, "lf_snd"), snd);
  EXPECT_EQ(metric_of(criteria, "lf_flip_agreement"), flip);
  EXPECT_TRUE(H5Reader(labels).read("labels").equal(before));
  EXPECT_TRUE(H5Reader(labels).read("probabilities").equal(probabilities));
  EXPECT_EQ(metric_of(dir / "round-0" / "evaluate_source.h5", "test_mjac"), mjac);
  fs::remove_all(dir);
}

// torchrun's way (each rank from the environment, rank 0 hosting the store): rank 1 is killed
// after the first epoch's checkpoint; rank 0 must fail within the timeout, naming itself and what
// failed, commit nothing; the next run (with --nproc) resumes from the checkpoint and finishes.
TEST(DataParallel, ADeadRankStopsTheRunAndTheNextRunResumes) {
  const fs::path dir = fresh_dir("dp_fault");
  auto args = concat({"run"}, parallel_options(dir, 2, 30));
  *(std::find(args.begin(), args.end(), "--dist_timeout") + 1) = "20";
  const int port = free_port();
  const int rank0 = spawn_rank(0, port, args, dir.string() + ".rank0.log");
  const int rank1 = spawn_rank(1, port, args, dir.string() + ".rank1.log");
  ASSERT_TRUE(wait_for_file(dir / "source.checkpoint.h5", rank0, std::chrono::seconds(120)))
      << read_text(dir.string() + ".rank0.log");
  kill(rank1, SIGKILL);
  const auto killed = Clock::now();
  const int code = wait_at_most(rank0, std::chrono::seconds(40));
  waitpid(rank1, nullptr, 0);
  if (code == -1) kill(rank0, SIGKILL);
  const std::string log = read_text(dir.string() + ".rank0.log");
  ASSERT_NE(code, -1) << "rank 0 still runs 40 s after rank 1 died\n" << log;
  EXPECT_NE(code, 0) << log;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed).count(), 30.0);
  EXPECT_NE(log.find("rank 0: "), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "source.h5"));  // the stage was not committed
  // Nothing half-written: rank 0 removed its temporary, and rank 1 never wrote into the work directory.
  EXPECT_TRUE(temporaries(dir).empty()) << temporaries(dir).front();
  // The lost peer is one line that says what to do, without LibTorch's C++ backtrace.
  EXPECT_NE(log.find("the same command resumes from the cache"), std::string::npos) << log;
  EXPECT_EQ(log.find("frame #"), std::string::npos) << log;
  EXPECT_EQ(log.find("Exception raised from"), std::string::npos) << log;

  auto again = run_jcas(concat({"run", "--nproc", "2"}, parallel_options(dir, 2, 30)));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(std::regex_search(again.output, std::regex("source: resumed from checkpoint after epoch [1-9]")))
      << again.output;
  EXPECT_TRUE(fs::exists(dir / "source.h5"));
  EXPECT_TRUE(temporaries(dir).empty());
  fs::remove_all(dir);
}

// `jcas run --nproc 2`: the launcher names the rank that died and stops the others.
TEST(DataParallel, TheLauncherNamesTheRankThatDied) {
  const fs::path dir = fresh_dir("dp_launcher");
  const fs::path log = dir.string() + ".log";
  const int launcher =
      spawn_jcas(concat({"run", "--nproc", "2"}, parallel_options(dir, 2, 30)), log);
  ASSERT_TRUE(wait_for_file(dir / "source.checkpoint.h5", launcher, std::chrono::seconds(120))) << read_text(log);
  std::smatch m;
  std::string text = read_text(log);
  ASSERT_TRUE(std::regex_search(text, m, std::regex("started rank 1 of 2 \\(pid (\\d+)\\)"))) << text;
  kill(std::stoi(m[1]), SIGKILL);
  const int code = wait_at_most(launcher, std::chrono::seconds(40));
  if (code == -1) kill(launcher, SIGKILL);
  text = read_text(log);
  EXPECT_NE(code, 0) << text;
  EXPECT_NE(code, -1) << text;
  EXPECT_NE(text.find("rank 1 (pid " + std::string(m[1]) + ") was killed by signal 9"), std::string::npos) << text;
  EXPECT_FALSE(fs::exists(dir / "source.h5"));
  fs::remove_all(dir);
}

// Killing the launcher of `jcas run --nproc 2` (even with SIGKILL, which it cannot forward) ends
// its workers: they get SIGTERM from the kernel when their parent dies, and stop.
TEST(DataParallel, TheWorkersEndWithTheirLauncher) {
  const fs::path dir = fresh_dir("dp_orphans");
  const fs::path log = dir.string() + ".log";
  const int launcher = spawn_jcas(concat({"run", "--nproc", "2"}, parallel_options(dir, 2, 30)), log);
  ASSERT_TRUE(wait_for_file(dir / "source.checkpoint.h5", launcher, std::chrono::seconds(120))) << read_text(log);
  const std::string text = read_text(log);
  std::vector<int> workers;
  const std::regex started("started rank \\d of 2 \\(pid (\\d+)\\)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), started); it != std::sregex_iterator(); ++it)
    workers.push_back(std::stoi((*it)[1]));
  ASSERT_EQ(workers.size(), 2u) << text;
  kill(launcher, SIGKILL);
  wait_jcas(launcher);
  // Gone, or a zombie waiting for whichever process adopted it to reap it.
  auto alive = [](int pid) {
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    return !stat.empty() && stat.find(") Z ") == std::string::npos;
  };
  const auto deadline = Clock::now() + std::chrono::seconds(40);
  while (Clock::now() < deadline && std::any_of(workers.begin(), workers.end(), alive))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int pid : workers) {
    EXPECT_FALSE(alive(pid)) << "worker " << pid << " outlived its launcher\n" << read_text(log);
    if (alive(pid)) kill(pid, SIGKILL);
  }
  fs::remove_all(dir);
}

// Gradients as DDP: the reference's separate embedding heads get no gradient from CE source
// training on any rank, so they must stay exactly as initialised (one process's optimiser skips a
// parameter without a gradient: no weight decay, no momentum), while the rest trains as one process.
TEST(DataParallel, AParameterNoRankHasAGradientForIsLeftAsOneProcessLeavesIt) {
  const fs::path one = fresh_dir("dp_heads1"), two = fresh_dir("dp_heads2");
  const std::vector<std::string> separate = {"--model.embedding", "separate"};
  ASSERT_NO_FATAL_FAILURE(run_one_and_two_ranks(one, two, separate));
  H5Reader a(one / "source.h5"), b(two / "source.h5");
  int heads = 0;
  for (const auto& name : a.list("model")) {
    if (name.find("embedding") == std::string::npos) continue;
    ++heads;
    EXPECT_TRUE(torch::equal(a.read("model/" + name), b.read("model/" + name))) << name;
  }
  EXPECT_GT(heads, 0);
  EXPECT_LT(max_difference(one / "source.h5", two / "source.h5", "/model"), 1e-4);
  fs::remove_all(one);
  fs::remove_all(two);
}

// Synchronised BatchNorm: two ranks of batch 2 normalise each step with the statistics of both
// batches, so they train as one process of batch 4 with per-batch statistics — weights, running
// statistics and losses, source training and retraining, including the source's last step in
// which rank 1 has no image and passes an empty batch through the BatchNorm all-reduces. The
// control: per-rank statistics (`batch`) with two ranks do not. The retraining is VolMin's (CALC
// with its NTM): JCAS's affinity terms amplify float rounding at this tiny size (one process at 1
// and at 2 threads differ by 1e-3 in the auxiliary head after three epochs; 6e-3 here).
TEST(DataParallel, SynchronisedBatchNormTrainsTwoRanksAsOneProcessOfTheGlobalBatch) {
  const fs::path one = fresh_dir("dp_syncbn1"), two = fresh_dir("dp_syncbn2"), per_rank = fresh_dir("dp_syncbn_rank");
  auto with_batchnorm = [](std::vector<std::string> args, const std::string& mode) {
    *(std::find(args.begin(), args.end(), "--model.batchnorm") + 1) = mode;
    return concat(args, {"--pseudo_label.adabn", "false", "--retrain.method", "volmin"});
  };
  auto r1 = run_jcas(concat({"run"}, with_batchnorm(parallel_options(one, 4), "batch")));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto r2 = run_jcas(concat({"run", "--nproc", "2"}, with_batchnorm(parallel_options(two, 2), "sync")));
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  auto r3 = run_jcas(concat({"run", "--nproc", "2"}, with_batchnorm(parallel_options(per_rank, 2), "batch")));
  ASSERT_EQ(r3.exit_code, 0) << r3.output;

  const fs::path retrain = fs::path("round-0") / "retrain.h5";
  const double source = max_difference(one / "source.h5", two / "source.h5", "/model");
  const double adapted = max_difference(one / retrain, two / retrain, "/model");
  const double control = max_difference(one / "source.h5", per_rank / "source.h5", "/model");
  std::printf("largest difference to one process: sync source %g, retrain %g; per-rank statistics source %g\n", source,
              adapted, control);
  EXPECT_LT(source, 1e-4);
  EXPECT_LT(adapted, 1e-4);
  EXPECT_GT(control, 1e-3);  // without synchronisation the split of the batch shows
  EXPECT_NEAR(metric_of(one / "source.h5", "final_loss"), metric_of(two / "source.h5", "final_loss"), 1e-4);
  auto loss1 = H5Reader(one / retrain).read("epoch_loss"), loss2 = H5Reader(two / retrain).read("epoch_loss");
  EXPECT_LT((loss1 - loss2).abs().max().item<double>(), 1e-4) << loss1 << loss2;
  for (const auto& d : {one, two, per_rank}) fs::remove_all(d);
}

// Two machines as torchrun starts them, here two launchers on loopback with one rank each: node 0
// hosts the rendezvous at --master_port, node 1 joins it. The run is the same computation as one
// launcher's two ranks, bit for bit; the other node's lines name their rank.
TEST(DataParallel, TwoNodesRunAsOneLauncherOfTwoRanks) {
  const fs::path nodes = fresh_dir("dp_nodes"), one = fresh_dir("dp_one_node");
  const std::string port = std::to_string(free_port());
  auto node = [&](int rank, const std::vector<std::string>& extra) {
    return spawn_jcas(concat(concat({"run", "--nproc", "1", "--nnodes", "2", "--node_rank", std::to_string(rank),
                                     "--master_addr", "127.0.0.1", "--master_port", port},
                                    parallel_options(nodes, 2)),
                             extra),
                      nodes.string() + ".node" + std::to_string(rank) + ".log");
  };
  const int node1 = node(1, {"--verbose"});  // first: it waits for node 0's rendezvous
  const int node0 = node(0, {});
  const int code0 = wait_at_most(node0, std::chrono::seconds(180)), code1 = wait_at_most(node1, std::chrono::seconds(30));
  for (int pid : {node0, node1})
    if (running(pid)) kill(pid, SIGKILL);
  const std::string log0 = read_text(nodes.string() + ".node0.log"), log1 = read_text(nodes.string() + ".node1.log");
  ASSERT_EQ(code0, 0) << log0;
  ASSERT_EQ(code1, 0) << log1;
  EXPECT_NE(log1.find("started rank 1 of 2"), std::string::npos) << log1;
  EXPECT_NE(log1.find("rank 1: "), std::string::npos) << log1;
  EXPECT_NE(read_text(nodes / "jcas.log").find(", rank 0 of 2, OpenMP waiting: "), std::string::npos);

  auto r = run_jcas(concat({"run", "--nproc", "2"}, parallel_options(one, 2)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(max_difference(nodes / "source.h5", one / "source.h5", "/model"), 0.0);
  EXPECT_EQ(max_difference(nodes / "round-0/retrain.h5", one / "round-0/retrain.h5", "/model"), 0.0);
  fs::remove_all(nodes);
  fs::remove_all(one);
}

// `--wait` with ranks: while another process holds the work directory, rank 0 waits for the lock
// and the other rank waits for rank 0, both longer than the collectives' timeout (8 s here).
TEST(DataParallel, RanksWaitForTheLockBeyondTheCollectiveTimeout) {
  const fs::path dir = fresh_dir("dp_wait");
  const fs::path log = dir.string() + ".log";
  auto args = concat({"run", "--nproc", "2", "--wait"}, parallel_options(dir, 2));
  *(std::find(args.begin(), args.end(), "--dist_timeout") + 1) = "8";
  int launcher = -1;
  {
    WorkdirLock held(dir, false);
    launcher = spawn_jcas(args, log.string());
    std::this_thread::sleep_for(std::chrono::seconds(13));
    ASSERT_TRUE(running(launcher)) << read_text(log);
  }
  const int code = wait_at_most(launcher, std::chrono::seconds(120));
  if (code == -1) kill(launcher, SIGKILL);
  EXPECT_EQ(code, 0) << read_text(log);
  EXPECT_TRUE(fs::exists(dir / "round-0" / "retrain.h5"));
  fs::remove_all(dir);
}

// Ignored pixels, and the filters that read the model split over the ranks: DPL's labels (a share
// of them set to 255 by the filter, each rank filtering its batches) and CBST's class-normalised
// labels (thresholds from the gathered probabilities) are one process's exactly, and training on
// them with two ranks of batch 2 is training with one process of batch 4.
TEST(DataParallel, TwoRanksFilterAndTrainOnIgnoredPixelsAsOneProcess) {
  // DPL: a strict threshold and strong input noise, so that the tiny model's labels lose pixels.
  const std::vector<std::pair<std::string, std::vector<std::string>>> filters = {
      {"dpl", {"--retrain.method", "dpl", "--retrain.dpl_uncertainty", "0.002", "--retrain.dpl_noise", "3"}},
      {"cbst", {"--retrain.method", "cbst"}}};
  for (const auto& [name, method] : filters) {
    SCOPED_TRACE(name);
    const fs::path one = fresh_dir("dp_" + name + "1"), two = fresh_dir("dp_" + name + "2");
    const auto options = concat(method, {"--pseudo_label.adabn", "false"});
    // The same source model (its weights imported), so that both label the same way.
    ASSERT_NO_FATAL_FAILURE(
        run_one_and_two_ranks(one, two, options, {"--source.weights", (one / "source.h5").string()}));
    EXPECT_TRUE(H5Reader(one / "round-0" / "pseudo_label.h5").read("labels").equal(
        H5Reader(two / "round-0" / "pseudo_label.h5").read("labels")));
    const fs::path retrain = fs::path("round-0") / "retrain.h5";
    const double kept = metric_of(one / retrain, "kept_labels");
    EXPECT_GT(kept, 0.0);
    EXPECT_LT(kept, 1.0);  // the filter ignored some pixels
    EXPECT_EQ(metric_of(two / retrain, "kept_labels"), kept);
    EXPECT_LT(max_difference(one / retrain, two / retrain, "/model"), 1e-4);
    fs::remove_all(one);
    fs::remove_all(two);
  }
}

// `--rounds auto` with ranks: every rank reads the criteria rank 0 committed and rank 0's reading
// decides, so the ranks stop together; one status table, from rank 0.
TEST(DataParallel, AutoRoundsRunWithRanks) {
  const fs::path d = copy_of_completed("dp_auto_rounds");
  std::vector<std::string> options = tiny_options(d);
  const auto at = std::find(options.begin(), options.end(), "--rounds");
  options.erase(at, at + 2);
  auto r = run_jcas(concat({"run", "--nproc", "2", "--rounds", "auto", "--max_rounds", "2", "--until", "certainty",
                            "--dist_timeout", "60"},
                           options));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--rounds auto: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the best model by certainty"), std::string::npos) << r.output;
  EXPECT_EQ(occurrences(r.output, "round  stage"), 1) << r.output;  // the status table's header
  fs::remove_all(d);
}
