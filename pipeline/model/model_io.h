#pragma once
// Model weights in HDF5: one dataset per parameter and buffer, named `<group>/<dotted name>`
// (e.g. `model/backbone.stage1.0.conv1.weight`), so h5py reads them without LibTorch.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "adapters/io/h5_store.h"
#include "pipeline/model/segmentation_model.h"

namespace jcas {

// Parameters and buffers by dotted name, in the module's order: the state that defines a model.
ModuleState module_state(const torch::nn::Module& module);  // the live tensors, not copies
ModuleState clone_state(const ModuleState& state);          // detached copies
// Copies `from` into the tensors of `to` (same names and order, e.g. two states of one model).
void copy_state(const ModuleState& from, const ModuleState& to);
void write_state(H5Writer& writer, const std::string& group, const ModuleState& state);
// Reads `group` into the tensors of `into`, with the checks of read_module.
void read_state(const H5Reader& reader, const std::string& group, const ModuleState& into);

// Writes every named parameter and buffer of `module` (recursively) under `group`.
void write_module(H5Writer& writer, const std::string& group, const torch::nn::Module& module);

// Loads every named parameter and buffer of `module` from `group`, in place (dtype converted to
// the module's). A missing tensor, a shape mismatch, or a tensor in the group that the module does
// not have is a UserError naming the file and the tensor: a half-loaded model is never returned
// silently (the module may have been partly overwritten when it throws).
void read_module(const H5Reader& reader, const std::string& group, torch::nn::Module& module);

}  // namespace jcas
