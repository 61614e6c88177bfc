#pragma once
// The kinds of model a stored result can hold, by the name SegmentationModel::describe() gives:
// the one place that turns a description back into a model.
#include <memory>
#include <string>

#include "pipeline/model/segmentation_model.h"

namespace jcas {

// A model of `description`'s kind with K = num_classes, its parameters as constructed (the caller
// copies the stored state in). UserError naming `what` for a kind or architecture it cannot rebuild.
std::shared_ptr<SegmentationModel> rebuild_model(const ModelDescription& description, int num_classes,
                                                 const std::string& what);

}  // namespace jcas
