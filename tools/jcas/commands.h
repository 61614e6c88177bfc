#pragma once
// The subcommands of `jcas`. Each takes the arguments after its name and returns the exit code;
// user errors are thrown as jcas::UserError and reported by main().
#include <string>
#include <vector>

namespace jcas::commands {

using Args = std::vector<std::string>;

int version(const Args& args);
int ntm(const Args& args);
int synth(const Args& args);
int import_dataset(const Args& args);
int noise(const Args& args);
int labels(const Args& args);
int run(const Args& args);
int stage(const Args& args);
int status(const Args& args);
int compare(const Args& args);
int inspect(const Args& args);
int ablation(const Args& args);
int benchmark(const Args& args);
int options(const Args& args);
int export_model(const Args& args);
int select(const Args& args);
int predict(const Args& args);

}  // namespace jcas::commands
