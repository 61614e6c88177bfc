#pragma once
// AdaBN (Li et al., "Revisiting Batch Normalization for Practical Domain Adaptation", ICLR
// Workshop 2017): the source model's BatchNorm statistics replaced by the target images' own,
// without a gradient step. The adabn and tent methods start from it; --pseudo_label.adabn labels
// with the recalibrated model, and retraining then continues from that model.
#include <string>

#include "adapters/foundation/option_binder.h"

#include "adapters/io/segmentation_dataset.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/execution/execution_context.h"

namespace jcas {

// Sets every BatchNorm layer's running mean and variance to those of `images` (all of them, in
// batches of 4 in dataset order, so the result is a function of the model and images alone; each layer seeing the activations the recalibrated layers before it
// produce in training mode): the mean of the batch means and the variance of the union, exact up
// to each batch's unbiased-variance factor. Works through the layers' momentum whatever it is
// (the native network's 0.1, torchvision's 0.01 or a cumulative None) and leaves the model in
// evaluation mode. In a data-parallel run each rank takes every world_size-th batch and the ranks
// add their sums (the result equals one process's up to the order of float64 additions).
// Returns the number of layers recalibrated.
int recalibrate_batchnorm(SegmentationModel& model, const SegmentationDataset& images,
                          const ExecutionContext& execution, const std::string& label);

// Binds [pseudo_label] adabn, which the pseudo-label and retrain stages both read.
void bind_adabn(OptionBinder& pseudo_label_section, bool* adabn);

}  // namespace jcas
