#include "pipeline/model/model_io.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "adapters/foundation/error.h"

namespace jcas {
namespace {

std::string join(const std::string& group, const std::string& name) {
  if (group.empty() || group == "/") return name;
  return group.back() == '/' ? group + name : group + "/" + name;
}

}  // namespace

ModuleState module_state(const torch::nn::Module& module) {
  ModuleState all;
  for (const auto& p : module.named_parameters(true)) all.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) all.emplace_back(b.key(), b.value());
  return all;
}

ModuleState clone_state(const ModuleState& state) {
  ModuleState out;
  for (const auto& [name, t] : state) out.emplace_back(name, t.detach().clone());
  return out;
}

void copy_state(const ModuleState& from, const ModuleState& to) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < to.size(); ++i) to[i].second.copy_(from.at(i).second);
}

void write_module(H5Writer& writer, const std::string& group, const torch::nn::Module& module) {
  write_state(writer, group, module_state(module));
}

void write_state(H5Writer& writer, const std::string& group, const ModuleState& state) {
  for (const auto& [name, tensor] : state) writer.write(join(group, name), tensor);
}

void read_module(const H5Reader& reader, const std::string& group, torch::nn::Module& module) {
  read_state(reader, group, module_state(module));
}

void read_state(const H5Reader& reader, const std::string& group, const ModuleState& into) {
  const auto file = reader.path().string();
  if (group != "/" && !group.empty() && !reader.is_group(group))
    throw UserError(fmt::format("{}: no model weights group '{}'", file, group));
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : into) {
    expected.insert(name);
    const auto path = join(group, name);
    if (!reader.has(path))
      throw UserError(fmt::format("{}: model tensor '{}' is missing (saved from a different model configuration?)",
                                  file, path));
    auto shape = reader.describe(path).first;
    if (shape != tensor.sizes().vec())
      throw UserError(fmt::format("{}: model tensor '{}' has shape [{}], the model expects [{}]", file, path,
                                  fmt::join(shape, ", "), fmt::join(tensor.sizes(), ", ")));
    tensor.copy_(reader.read(path).to(tensor.scalar_type()));
  }
  for (const auto& child : reader.list(group.empty() ? "/" : group)) {
    if (!expected.count(child) && !reader.is_group(join(group, child)))
      throw UserError(fmt::format("{}: tensor '{}' is not part of the model (saved from a different model configuration?)",
                                  file, join(group, child)));
  }
}

}  // namespace jcas
