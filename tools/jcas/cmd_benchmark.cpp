#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/options.h"
#include "adapters/foundation/progress.h"
#include "adapters/foundation/torchrun_environment.h"
#include "adapters/io/file_writes.h"
#include "pipeline/runner/option_schema.h"
#include "pipeline/execution/run_options.h"
#include "stages/pipeline_stages.h"
#include "tools/benchmark/benchmark.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {
// The benchmark's own options: on the command line (`--seeds 3`) or in the config's [benchmark]
// section (`seeds = 3`); every pipeline option given is passed on to each run unchanged.
int benchmark(const Args& args) {
  BenchmarkOptions o;
  OptionBinder binder;
  o.bind(binder);
  po::options_description own("benchmark (INI: [benchmark])");
  declare_options(binder.bindings(), own);
  own.add_options()("quick", po::bool_switch(),
                    "a smoke test: 1 seed, the first shift, methods source,ce,jcas (unless --methods), and, unless "
                    "given, --rounds 1 --source.epochs 1 --retrain.epochs 1 --retrain.warmup_epochs 0");
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  po::options_description pipeline(
      "Pipeline options, passed unchanged to every run (the benchmark sets --workdir, --seed, --synth.shift and "
      "--retrain.method of each)");
  declare_options(schema.bindings(), pipeline);
  po::options_description output("Output");
  output.add_options()("quiet,q", po::bool_switch(), "log warnings and errors only")(
      "verbose,v", po::bool_switch(), "log debug lines too");
  po::options_description all;
  all.add(own).add(pipeline).add(output);
  auto parsed = parse_options(
      "benchmark",
      "The SFDA benchmark: one ordinary pipeline run (`jcas run`) per (shift, seed, method), each in its own work "
      "directory under WORKDIR/benchmark, at most --jobs at once; a Markdown report of the test scores per round "
      "(mean ± sd over seeds) with a PNG plot.",
      all, args, {}, "benchmark");
  if (parsed.help) return 0;
  const auto& vm = parsed.values;
  if (vm["quiet"].as<bool>()) log::set_level(log::Level::quiet);
  if (vm["verbose"].as<bool>()) log::set_level(log::Level::debug);
  resolve_options(binder.bindings(), vm).apply(binder.bindings());
  o.quick = vm["quick"].as<bool>();
  OptionValues values = resolve_options(schema.bindings(), vm);  // every pipeline value checked

  // What each child gets: the pipeline options as typed (the command line; a --config file is
  // passed as --config), less those the benchmark sets per run.
  BenchmarkSetup setup;
  // The runs' logs keep their normal level: -q/-v are for this command's terminal.
  std::set<std::string> own_keys = {"quick", "workdir", "quiet", "verbose"};
  for (const auto& b : binder.bindings()) own_keys.insert(b.key);
  const std::map<std::string, std::string> set_per_run = {
      {"seed", "--seeds"}, {"synth.shift", "--shifts"}, {"retrain.method", "--methods"}};
  {
    po::options_description common;
    common.add_options()("help,h", "")("config", po::value<std::string>(), "");
    po::options_description every;
    every.add(all).add(common);
    const auto cl = po::command_line_parser(args).options(every).run();
    for (const auto& opt : cl.options) {
      if (own_keys.count(opt.string_key)) continue;
      if (auto it = set_per_run.find(opt.string_key); it != set_per_run.end())
        throw UserError(fmt::format("the benchmark sets --{} of each run: use {}", it->first, it->second));
      setup.passthrough.push_back({opt.string_key, opt.original_tokens});
    }
  }
  auto given = [&](const std::string& key) { return vm.count(key) && !vm[key].defaulted(); };
  if (o.quick) {
    o.seeds = 1;
    o.shifts.resize(1);
    if (!given("methods")) o.methods = benchmark_quick_methods();
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"rounds", "1"}, {"source.epochs", "1"}, {"retrain.epochs", "1"}, {"retrain.warmup_epochs", "0"}})
      if (!given(key)) {
        setup.passthrough.push_back({key, {"--" + key, value}});
        values.set(key, value);
      }
  }
  o.check();
  // --threads 0 (every CPU this process may use: the default, and what configs/quickstart.ini writes)
  // is shared by the runs at once: each child gets its part on its command line, which a config
  // file's value does not override.
  if (values.get<RunOptions>().threads == 0) {
    const std::vector<std::string> share = {"--threads", std::to_string(std::max(1, available_cpus() / o.jobs))};
    auto typed = std::find_if(setup.passthrough.begin(), setup.passthrough.end(),
                              [](const auto& p) { return p.first == "threads"; });
    if (typed != setup.passthrough.end()) typed->second = share;
    else setup.passthrough.push_back({"threads", share});
  }
  const RunOptions run = values.get<RunOptions>();
  setup.workdir = run.workdir;
  setup.target = values.all().count("data.target") ? values.all().at("data.target") : "";
  if (!setup.target.empty() && o.shifts.size() > 1)
    throw UserError("--shifts: the target is given (--data.target) and the shift strength only moves synthetic data; "
                    "give one shift");
  setup.option_values = values.all();
  setup.rounds = run.rounds;
  setup.dist_timeout = run.dist_timeout;
  const TorchrunEnvironment env = read_torchrun_environment();
  setup.rank = env.rank;
  setup.world_size = env.world_size;
  for (const auto& b : schema.bindings())
    if (b.key == "retrain.labels") setup.has_truth_labels = true;
  setup.command_line = "jcas benchmark";
  for (const auto& a : args) setup.command_line += " " + a;

  auto t0 = std::chrono::steady_clock::now();
  Benchmark bench(o, setup);  // checks the method names before anything runs
  std::filesystem::create_directories(bench.root());
  if (setup.rank == 0) {
    log::open_file(bench.root() / "benchmark.log");
    log::to_file(fmt::format("\n=== {}\n", setup.command_line));
  }
  log::info("benchmark: {} run(s) under {} ({} at once{})", bench.runs().size(), bench.root().string(), o.jobs,
            setup.world_size > 1 ? fmt::format(", rank {} of {}", setup.rank, setup.world_size) : "");
  bench.run_mine();
  if (setup.rank != 0) return 0;
  bench.collect();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bench.write_plot(bench.plot_path());
  const std::string md = bench.markdown(seconds);
  const auto path = bench.report_path();
  write_text_file(path, md);
  log::info("benchmark: {} run(s) in {}; report {}, plot {}", bench.runs().size(), format_duration(seconds),
            path.string(), bench.plot_path().string());
  std::printf("%s", md.c_str());
  return 0;
}

}  // namespace jcas::commands
