#pragma once
// Procedural endoscopy-like scenes with instrument-part labels (background, shaft, wrist,
// clasper), in a "source" and a "target" style, written in the dataset layout of
// adapters/segmentation_dataset.h. It is the embedded data of the toolkit: no download needed,
// deterministic from a seed, with a domain shift large enough to make source-model pseudo labels
// on the target clearly noisy.
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

#include "adapters/foundation/option_binder.h"

namespace jcas {

struct SynthOptions {
  std::string out;  // root folder; source/ and target/ are written inside it
  uint64_t seed = 1;
  int source_train = 160, source_val = 20, source_test = 20;
  int target_train = 120, target_val = 30, target_test = 60;
  int height = 128, width = 160;
  // Strength of the target's domain shift: the target style is target + (shift - 1) (target -
  // source), field by field, clamped to physical values; 0 = the source style, 1 = the default
  // target (byte-identical to the data before the option existed), 1.5 = a stronger shift.
  double shift = 1.0;
  bool progress = true;  // progress bar on stderr

  // The image counts, size and shift with their defaults and help, `sep` between the words of a key:
  // '-' for `jcas synth` (--source-train), '_' for the pipeline's [synth] section (synth.source_train).
  // The seed and the output folder are the caller's (the pipeline has one seed for everything).
  void bind(OptionBinder& b, char sep = '-');
  // UserError naming the first value out of range.
  void check() const;
};

enum class SynthDomain { source, target };

struct SynthScene {
  cv::Mat image;  // CV_8UC3, BGR
  cv::Mat label;  // CV_8UC1, 0 background, 1 shaft, 2 wrist, 3 clasper
};

// The accepted range of SynthOptions::shift.
constexpr double kMinSyntheticShift = 0.0, kMaxSyntheticShift = 3.0;
// UserError when `shift` is outside [kMinSyntheticShift, kMaxSyntheticShift] (or NaN).
void check_synthetic_shift(double shift);

// One scene, a pure function of (domain, scene_seed, size, shift). `shift` only changes the
// target domain's style (see SynthOptions::shift); the source and the layout stay the same.
SynthScene render_synthetic_scene(SynthDomain domain, uint64_t scene_seed, int height, int width,
                                  double shift = 1.0);

// The seed of scene `index` of `split` ("train", "val", "test") in `domain`: each scene has its
// own stream, so changing one split's count never changes another split's images.
uint64_t synthetic_scene_seed(uint64_t seed, SynthDomain domain, const std::string& split, int index);

// Writes <out>/source and <out>/target (img/, label/, train.txt, val.txt, test.txt, info.json).
// Each domain is written to a temporary folder and renamed into place when complete; an existing
// domain folder is replaced. Same options -> byte-identical files.
void generate_synthetic_dataset(const SynthOptions& options);

// A PNG panel of `per_domain` test examples of each domain of a generated root (image above its
// colourised label) with a legend of the class colours.
void write_synthetic_panel(const std::string& root, const std::string& png_path, int per_domain = 4);

}  // namespace jcas
