#pragma once
// ImageNet weights for the native network's backbone from torchvision's state_dicts: resnet101's
// (conv1, bn1, layer1..4) into preset resnet101, mobilenet_v2's (features.0..17) into preset
// mobilenet_v2. torchvision's checkpoints pickle an OrderedDict, which LibTorch cannot read, so
// tools/python/torchvision_backbone.py first rewrites one as a plain dict of tensors.
#include <string>
#include <vector>

namespace jcas {

class DeepLabImpl;

struct BackboneWeightsImport {
  int copied = 0;                    // backbone tensors set from the file
  std::vector<std::string> ignored;  // the file's tensors without a place in the backbone (fc., classifier., ...)
};

// Copies every backbone parameter and BatchNorm buffer of `model` from `file`. UserError naming
// the file for an unreadable or foreign file, a backbone tensor the file lacks, or a shape that
// differs; the model is left unchanged then.
BackboneWeightsImport load_torchvision_backbone(DeepLabImpl& model, const std::string& file);

}  // namespace jcas
