#pragma once
// `jcas import`: a dataset as it ships (a folder of images, a folder of masks) into jcas's layout
// (adapters/io/segmentation_dataset.h): img/NAME.png, label/NAME.png with class ids, one list per
// split, info.json, and import.json reporting what was done. Images and masks pair by their path
// without extension ("polyp/12.jpg" with "polyp/12.tif"); masks are decoded by one of four
// encodings; splits come from ratios, lists, or groups that never cross splits (frames of one
// video). Files and splits are checked before any pixel is read, masks while the dataset is
// written into a temporary folder, which is renamed into place only when complete.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"

namespace jcas {

// How a mask file holds the classes.
enum class MaskEncoding {
  ids,     // one channel of class ids 0..K-1 (255 = ignore)
  binary,  // grey levels (colour masks are taken as grey): >= threshold foreground (1), else background (0)
  grey,    // grey levels named per class (`background=0;polyp=255`), matched within a tolerance
  rgb,     // colours named per class (`background=0,0,0;instrument=255,0,0`), matched within a tolerance
};
template <>
struct EnumNames<MaskEncoding> {
  static const std::vector<std::pair<MaskEncoding, const char*>>& table();
};

// How the pairs are divided into splits.
enum class SplitRule {
  ratio,   // shuffled with the seed (whole groups when --group-regex is given), cut by --ratios
  lists,   // files of names (--lists train=a.txt,test=b.txt); every pair must be in exactly one
  ranges,  // numbered stems by ranges (--ranges test=1-150,val=151-210,train=211-612)
};
template <>
struct EnumNames<SplitRule> {
  static const std::vector<std::pair<SplitRule, const char*>>& table();
};

struct ImportOptions {
  std::string images;  // folder of images (sub-folders too)
  std::string masks;   // folder of masks; empty: an unlabelled dataset (images only)
  std::string out;     // dataset root to write
  bool overwrite = false;  // replace an existing `out` (a switch of the command, not bound)
  MaskEncoding encoding = MaskEncoding::binary;
  // Class names, in class-id order: "background,polyp" (ids, binary), or with their mask value,
  // entries separated by ';': "background=0;polyp=255" (grey), "background=0,0,0;tool=255,0,0" (rgb).
  std::string classes = "background,foreground";
  int threshold = 128;  // binary: grey level from which a pixel is foreground
  int tolerance = 0;    // grey, rgb: largest per-channel distance to a class's value
  SplitRule split = SplitRule::ratio;
  std::string ratios = "0.7,0.1,0.2";  // train,val,test shares (ratio)
  int64_t seed = 0;                    // ratio: the shuffle
  std::string group_regex;  // ratio: a regular expression on the name; its first group (or the match) is the group
  std::string lists;        // lists: split=FILE,... (names with or without extension, '#' comments)
  std::string ranges;       // ranges: split=A-B,... (a split may repeat); the stem is the number

  // Plain keys (`--mask-encoding rgb`, `[import] mask_encoding = rgb`).
  void bind(OptionBinder& b);
  void check() const;  // UserError naming the first nonsense value
};

// One class of the mask encoding: its name and, for grey/rgb, its mask value (BGR order for rgb).
struct MaskClass {
  std::string name;
  std::vector<int> value;  // empty (ids, binary), one grey level, or B,G,R
};
// The classes of `options.classes` under `options.encoding`; UserError naming --classes.
std::vector<MaskClass> parse_mask_classes(const ImportOptions& options);

// What an import did, also written as OUT/import.json.
struct ImportReport {
  int pairs = 0;
  std::vector<std::string> class_names;
  std::map<std::string, int> split_sizes;   // split -> pairs (empty splits omitted)
  std::map<std::string, int> split_groups;  // split -> groups (ratio with --group-regex)
  std::vector<double> class_share;          // per class: share of all mask pixels
  double ambiguous_share = 0;  // binary: share of mask pixels within 64 grey levels of the threshold
  int64_t ignored_pixels = 0;  // ids: pixels of value 255
  std::vector<std::string> skipped;  // files of other kinds found (not images), as relative paths
};

// Imports; UserError naming the first problem (unpaired files, an unmapped mask value with its
// count and a pixel, a size mismatch, an unreadable file, a name in no split) before writing.
ImportReport import_dataset(const ImportOptions& options);

}  // namespace jcas
