#include "data/dataset_import.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <regex>
#include <set>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/options.h"
#include "adapters/foundation/progress.h"
#include "adapters/foundation/temporary_path.h"
#include "adapters/io/file_writes.h"
#include "adapters/io/segmentation_dataset.h"
#include "data/portable_rng.h"

namespace fs = std::filesystem;

namespace jcas {

const std::vector<std::pair<MaskEncoding, const char*>>& EnumNames<MaskEncoding>::table() {
  static const std::vector<std::pair<MaskEncoding, const char*>> t = {
      {MaskEncoding::ids, "ids"}, {MaskEncoding::binary, "binary"}, {MaskEncoding::grey, "grey"}, {MaskEncoding::rgb, "rgb"}};
  return t;
}

const std::vector<std::pair<SplitRule, const char*>>& EnumNames<SplitRule>::table() {
  static const std::vector<std::pair<SplitRule, const char*>> t = {
      {SplitRule::ratio, "ratio"}, {SplitRule::lists, "lists"}, {SplitRule::ranges, "ranges"}};
  return t;
}

void ImportOptions::bind(OptionBinder& b) {
  b.bind("images", &images, "folder of images (png, jpg, tif, bmp; sub-folders too)");
  b.bind("masks", &masks, "folder of masks, paired with the images by path without extension (empty: no labels)");
  b.bind("out", &out, "dataset folder to write (img/, label/, <split>.txt, info.json, import.json)");
  b.bind("mask-encoding", &encoding,
         "how masks hold classes: ids = class ids (255 ignore); binary = grey >= --threshold is class 1; grey = "
         "grey levels per class; rgb = colours per class");
  b.bind("classes", &classes,
         "class names in id order: 'background,polyp' (ids, binary); with their mask values, ';' between classes: "
         "'background=0;polyp=255' (grey), 'background=0,0,0;tool=255,0,0' (rgb, R,G,B)");
  b.bind("threshold", &threshold, "binary: the grey level from which a pixel is foreground (JPEG masks: 128)");
  b.bind("tolerance", &tolerance, "grey, rgb: largest per-channel distance from a class's value (JPEG masks need some)");
  b.bind("split", &split, "how pairs are divided into splits");
  b.bind("ratios", &ratios, "ratio: train,val,test shares, e.g. 0.7,0.1,0.2");
  b.bind("seed", &seed, "ratio: seed of the shuffle");
  b.bind("group-regex", &group_regex,
         "ratio: a regular expression searched in each name; its first group (else the match) names a group kept "
         "within one split, e.g. '^(seq_[0-9]+)/'");
  b.bind("lists", &lists, "lists: split=FILE,... with one name per line (extension optional), e.g. train=train.txt,test=test.txt");
  b.bind("ranges", &ranges,
         "ranges: split=FIRST-LAST,... over the number in each file's name, e.g. test=1-150,val=151-210,train=211-612 "
         "(contiguous frames of videos never cross splits)");
}

namespace {

bool valid_split_name(const std::string& s) {
  return !s.empty() && s.find_first_of("/\\ .") == std::string::npos;
}

// "a=x,b=y" -> {{a, x}, {b, y}}; UserError naming `key` on an entry without '=' or a bad split name.
std::vector<std::pair<std::string, std::string>> split_assignments(const std::string& text, const std::string& key) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : split_list(text)) {
    const auto eq = item.find('=');
    const std::string name = eq == std::string::npos ? "" : item.substr(0, eq);
    if (!valid_split_name(name) || eq + 1 >= item.size())
      throw UserError(fmt::format("--{}: expected split=VALUE entries (e.g. test=1-150), got '{}'", key, item));
    out.emplace_back(name, item.substr(eq + 1));
  }
  if (out.empty()) throw UserError(fmt::format("--{} is empty", key));
  return out;
}

std::vector<double> parse_ratios(const std::string& text) {
  const std::vector<double> r = parse_number_list(text, "ratios");
  for (double v : r)
    if (v < 0) throw UserError(fmt::format("--ratios: shares are non-negative, got {}", v));
  if (r.size() != 3 || r[0] + r[1] + r[2] <= 0)
    throw UserError(fmt::format("--ratios: expected three shares train,val,test with a positive sum, got '{}'", text));
  return r;
}

struct Range {
  std::string split;
  int64_t first, last;
};

std::vector<Range> parse_ranges(const std::string& text) {
  std::vector<Range> out;
  for (const auto& [split, span] : split_assignments(text, "ranges")) {
    static const std::regex form(R"(\s*([0-9]+)\s*-\s*([0-9]+)\s*)");
    std::smatch m;
    if (!std::regex_match(span, m, form))
      throw UserError(fmt::format("--ranges: '{}={}' is not FIRST-LAST (e.g. {}=1-150)", split, span, split));
    Range r{split, std::stoll(m[1]), std::stoll(m[2])};
    if (r.first > r.last) throw UserError(fmt::format("--ranges: '{}={}' ends before it starts", split, span));
    for (const auto& o : out)
      if (r.first <= o.last && o.first <= r.last)
        throw UserError(fmt::format("--ranges: {}={}-{} overlaps {}={}-{}", split, r.first, r.last, o.split, o.first, o.last));
    out.push_back(r);
  }
  return out;
}

std::regex compile_group_regex(const std::string& text) {
  try {
    return std::regex(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw UserError(fmt::format("--group-regex: '{}' is not a regular expression ({})", text, e.what()));
  }
}

std::vector<int> parse_mask_value(const std::string& text, MaskEncoding encoding, const std::string& entry) {
  const size_t want = encoding == MaskEncoding::rgb ? 3 : 1;
  std::vector<int> v;
  for (const auto& p : split_list(text)) {
    size_t used = 0;
    int x = -1;
    try {
      x = std::stoi(p, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != p.size() || x < 0 || x > 255) break;
    v.push_back(x);
  }
  if (v.size() != want || split_list(text).size() != want)
    throw UserError(fmt::format("--classes: '{}' needs {} (0..255) for --mask-encoding {}", entry,
                                want == 3 ? "a colour R,G,B" : "one grey level", enum_name(encoding)));
  if (want == 3) std::swap(v[0], v[2]);  // R,G,B -> OpenCV's B,G,R
  return v;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

std::vector<MaskClass> parse_mask_classes(const ImportOptions& o) {
  const bool valued = o.encoding == MaskEncoding::grey || o.encoding == MaskEncoding::rgb;
  std::vector<std::string> entries = split_list(o.classes, ';');
  if (entries.size() == 1 && entries[0].find('=') == std::string::npos) entries = split_list(entries[0], ',');
  std::vector<MaskClass> out;
  std::set<std::string> names;
  for (const auto& e : entries) {
    const auto eq = e.find('=');
    MaskClass c;
    c.name = trim(e.substr(0, eq));
    if (c.name.empty() || c.name.find_first_of(",;=\"") != std::string::npos)
      throw UserError(fmt::format("--classes: bad class name in '{}'", e));
    if (!names.insert(c.name).second) throw UserError(fmt::format("--classes: class '{}' named twice", c.name));
    if (valued != (eq != std::string::npos))
      throw UserError(valued ? fmt::format("--classes: '{}' needs its mask value (name=VALUE) for --mask-encoding {}; "
                                           "separate classes with ';'",
                                           e, enum_name(o.encoding))
                             : fmt::format("--classes: '{}' has a value, which --mask-encoding {} does not take "
                                           "(names only, e.g. background,polyp)",
                                           e, enum_name(o.encoding)));
    if (valued) c.value = parse_mask_value(e.substr(eq + 1), o.encoding, e);
    out.push_back(std::move(c));
  }
  if (o.encoding == MaskEncoding::binary && out.size() != 2)
    throw UserError(fmt::format("--classes: --mask-encoding binary has two classes (background,foreground), got {}",
                                out.size()));
  if (out.size() < 2 || out.size() > 255)
    throw UserError(fmt::format("--classes: need 2..255 classes, got {} ('{}')", out.size(), o.classes));
  return out;
}

void ImportOptions::check() const {
  if (threshold < 1 || threshold > 255) throw UserError(fmt::format("--threshold must be in 1..255, got {}", threshold));
  if (tolerance < 0 || tolerance > 255) throw UserError(fmt::format("--tolerance must be in 0..255, got {}", tolerance));
  parse_mask_classes(*this);
  switch (split) {
    case SplitRule::ratio:
      parse_ratios(ratios);
      if (!group_regex.empty()) compile_group_regex(group_regex);
      break;
    case SplitRule::lists:
      split_assignments(lists, "lists");
      break;
    case SplitRule::ranges:
      parse_ranges(ranges);
      break;
  }
  if (split != SplitRule::ratio && !group_regex.empty())
    throw UserError("--group-regex applies to --split ratio (lists and ranges choose each pair's split themselves)");
}

namespace {

// The image files of `folder` by name (relative path without extension); other files are
// appended to `skipped`. Two files of one name are an error.
std::map<std::string, fs::path> files_by_name(const std::string& folder, const std::string& key,
                                              std::vector<std::string>* skipped) {
  if (!fs::is_directory(folder)) throw UserError(fmt::format("--{}: '{}' is not a folder", key, folder));
  std::map<std::string, fs::path> out;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (!entry.is_regular_file()) continue;
    const fs::path rel = fs::relative(entry.path(), folder);
    if (!has_image_extension(rel)) {
      skipped->push_back((fs::path(folder) / rel).generic_string());
      continue;
    }
    const std::string name = fs::path(rel).replace_extension().generic_string();
    auto [it, fresh] = out.emplace(name, entry.path());
    if (!fresh)
      throw UserError(fmt::format("--{}: '{}' and '{}' share the name '{}'; keep one", key, it->second.string(),
                                  entry.path().string(), name));
  }
  if (out.empty()) throw UserError(fmt::format("--{}: '{}' holds no png/jpg/tif/bmp images", key, folder));
  return out;
}

std::string examples(const std::vector<std::string>& names) {
  std::vector<std::string> first(names.begin(), names.begin() + std::min<size_t>(3, names.size()));
  return fmt::format("'{}'{}", fmt::join(first, "', '"), names.size() > 3 ? ", ..." : "");
}

// The number in a file's name (its last run of digits): how numbered frames are ranged.
int64_t name_number(const std::string& name) {
  const std::string stem = fs::path(name).filename().string();
  const auto end = stem.find_last_of("0123456789");
  if (end == std::string::npos)
    throw UserError(fmt::format("--ranges: '{}' has no number in its name (ranges split numbered frames)", name));
  const auto before = stem.find_last_not_of("0123456789", end);
  const size_t first = before == std::string::npos ? 0 : before + 1;
  const std::string digits = stem.substr(first, end - first + 1);
  if (digits.size() > 18) throw UserError(fmt::format("--ranges: the number in '{}' is too long", name));
  return std::stoll(digits);
}

std::string strip_image_extension(const std::string& name) {
  fs::path p(name);
  return has_image_extension(p) ? p.replace_extension().generic_string() : name;
}

// Split of each name (same order as `names`), and the groups per split for the report.
std::vector<std::string> assign_splits(const ImportOptions& o, const std::vector<std::string>& names,
                                       std::map<std::string, int>* groups_per_split) {
  std::vector<std::string> split(names.size());
  if (o.split == SplitRule::ranges) {
    const auto ranges = parse_ranges(o.ranges);
    std::vector<std::string> outside;
    for (size_t i = 0; i < names.size(); ++i) {
      const int64_t n = name_number(names[i]);
      for (const auto& r : ranges)
        if (n >= r.first && n <= r.last) split[i] = r.split;
      if (split[i].empty()) outside.push_back(names[i]);
    }
    if (!outside.empty())
      throw UserError(fmt::format("--ranges: {} pair(s) fall in no range, e.g. {}; cover every number or remove "
                                  "those files",
                                  outside.size(), examples(outside)));
    return split;
  }
  if (o.split == SplitRule::lists) {
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < names.size(); ++i) index[names[i]] = i;
    for (const auto& [name, file] : split_assignments(o.lists, "lists")) {
      std::ifstream in(file);
      if (!in) throw UserError(fmt::format("--lists: cannot read '{}' (split {})", file, name));
      for (std::string line; std::getline(in, line);) {
        const std::string item = trim(line);
        if (item.empty() || item[0] == '#') continue;
        const std::string listed = strip_image_extension(item);
        auto it = index.find(listed);
        if (it == index.end())
          throw UserError(fmt::format("--lists: '{}' (in {}) is not among the imported pairs", item, file));
        if (!split[it->second].empty() && split[it->second] != name)
          throw UserError(fmt::format("--lists: '{}' is listed in split {} and in split {}", listed,
                                      split[it->second], name));
        split[it->second] = name;
      }
    }
    std::vector<std::string> unlisted;
    for (size_t i = 0; i < names.size(); ++i)
      if (split[i].empty()) unlisted.push_back(names[i]);
    if (!unlisted.empty())
      throw UserError(fmt::format("--lists: {} pair(s) are in no list, e.g. {}; list them or remove those files",
                                  unlisted.size(), examples(unlisted)));
    return split;
  }
  // Ratio: whole groups (each name its own group without --group-regex) in a seeded order, each
  // going to the split whose share its middle falls in.
  std::map<std::string, std::vector<size_t>> groups;
  const bool grouped = !o.group_regex.empty();
  const std::regex pattern = grouped ? compile_group_regex(o.group_regex) : std::regex();
  for (size_t i = 0; i < names.size(); ++i) {
    std::string key = names[i];
    if (grouped) {
      std::smatch m;
      if (!std::regex_search(names[i], m, pattern))
        throw UserError(fmt::format("--group-regex: '{}' does not match the name '{}'", o.group_regex, names[i]));
      key = m.size() > 1 && m[1].matched ? m[1].str() : m[0].str();
    }
    groups[key].push_back(i);
  }
  std::vector<const std::vector<size_t>*> order;
  for (const auto& [key, members] : groups) order.push_back(&members);
  PortableRng rng(splitmix64(static_cast<uint64_t>(o.seed)));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(static_cast<int>(i))]);
  const auto r = parse_ratios(o.ratios);
  const double total = r[0] + r[1] + r[2];
  const double bounds[] = {r[0] / total, (r[0] + r[1]) / total};
  const char* split_names[] = {"train", "val", "test"};
  double done = 0;
  for (const auto* members : order) {
    const double middle = (done + members->size() / 2.0) / names.size();
    const int s = middle < bounds[0] ? 0 : middle < bounds[1] ? 1 : 2;
    for (size_t i : *members) split[i] = split_names[s];
    if (grouped) ++(*groups_per_split)[split_names[s]];
    done += members->size();
  }
  return split;
}

// A decoded mask as 8 bits, 1 channel (ids, binary, grey) or 3 channels (rgb); UserError naming it.
cv::Mat read_mask(const fs::path& file, MaskEncoding encoding) {
  cv::Mat m = cv::imread(file.string(), cv::IMREAD_UNCHANGED);
  if (m.empty()) throw UserError(fmt::format("cannot read the mask '{}'", file.string()));
  if (m.depth() == CV_16U) {
    double max = 0;
    cv::minMaxLoc(m.reshape(1), nullptr, &max);
    if (max > 255) throw UserError(fmt::format("the mask '{}' is 16-bit with values up to {} (jcas reads 8-bit masks)", file.string(), max));
    m.convertTo(m, CV_8U);
  }
  if (m.depth() != CV_8U) throw UserError(fmt::format("the mask '{}' is not an 8- or 16-bit image", file.string()));
  if (m.channels() == 4) cv::cvtColor(m, m, cv::COLOR_BGRA2BGR);
  if (m.channels() == 2 || m.channels() > 4)
    throw UserError(fmt::format("the mask '{}' has {} channels", file.string(), m.channels()));
  if (encoding == MaskEncoding::rgb) {
    if (m.channels() == 1) cv::cvtColor(m, m, cv::COLOR_GRAY2BGR);
    return m;
  }
  if (m.channels() == 1) return m;
  if (encoding == MaskEncoding::ids) {
    std::vector<cv::Mat> c;
    cv::split(m, c);
    if (cv::countNonZero(c[0] != c[1]) || cv::countNonZero(c[0] != c[2]))
      throw UserError(fmt::format("the mask '{}' is in colour; class ids are one channel (colour masks: "
                                  "--mask-encoding rgb)", file.string()));
    return c[0];
  }
  cv::Mat grey;
  cv::cvtColor(m, grey, cv::COLOR_BGR2GRAY);
  return grey;
}

std::string value_text(const cv::Mat& mask, int y, int x) {
  if (mask.channels() == 1) return std::to_string(mask.at<uint8_t>(y, x));
  const auto& v = mask.at<cv::Vec3b>(y, x);
  return fmt::format("{},{},{}", v[2], v[1], v[0]);
}

struct MaskStats {
  std::vector<int64_t> class_pixels;
  int64_t ignored = 0, ambiguous = 0, pixels = 0;
};

// Class ids of a decoded mask; UserError naming the file, the unmapped values' count and a pixel.
cv::Mat mask_to_ids(const cv::Mat& mask, const fs::path& file, const ImportOptions& o,
                    const std::vector<MaskClass>& classes, MaskStats* stats) {
  const int k = static_cast<int>(classes.size());
  cv::Mat ids(mask.size(), CV_8U);
  int64_t unmapped = 0;
  int uy = -1, ux = -1;
  for (int y = 0; y < mask.rows; ++y) {
    uint8_t* out = ids.ptr<uint8_t>(y);
    for (int x = 0; x < mask.cols; ++x) {
      int id = -1;
      if (o.encoding == MaskEncoding::ids) {
        const int v = mask.at<uint8_t>(y, x);
        id = v < k || v == 255 ? v : -1;
      } else if (o.encoding == MaskEncoding::binary) {
        const int v = mask.at<uint8_t>(y, x);
        id = v >= o.threshold ? 1 : 0;
        if (std::abs(v - o.threshold) < 64) ++stats->ambiguous;
      } else {
        // The nearest class within the tolerance (per-channel distance).
        int best = o.tolerance + 1;
        for (int c = 0; c < k; ++c) {
          int d = 0;
          for (int ch = 0; ch < mask.channels(); ++ch)
            d = std::max(d, std::abs(mask.ptr<uint8_t>(y)[x * mask.channels() + ch] - classes[c].value[ch]));
          if (d < best) best = d, id = c;
        }
      }
      if (id < 0) {
        if (unmapped++ == 0) uy = y, ux = x;
        continue;
      }
      out[x] = static_cast<uint8_t>(id);
      if (id == 255) ++stats->ignored;
      else ++stats->class_pixels[id];
    }
  }
  if (unmapped)
    throw UserError(fmt::format(
        "the mask '{}' has {} pixel(s) that match no class, e.g. value {} at x={}, y={} ({}); {}", file.string(),
        unmapped, value_text(mask, uy, ux), ux, uy,
        o.encoding == MaskEncoding::ids ? fmt::format("class ids are 0..{} or 255", k - 1)
                                        : fmt::format("--classes '{}', --tolerance {}", o.classes, o.tolerance),
        o.encoding == MaskEncoding::ids ? "masks of 0/255 need --mask-encoding binary" : "add the value to --classes or raise --tolerance"));
  stats->pixels += static_cast<int64_t>(mask.total());
  return ids;
}

}  // namespace

ImportReport import_dataset(const ImportOptions& o) {
  o.check();
  if (o.images.empty()) throw_missing_option("images");
  if (o.out.empty()) throw_missing_option("out");
  fs::path out = fs::absolute(o.out).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" -> "dir"
  if (fs::exists(out) && !o.overwrite)
    throw UserError(fmt::format("--out: '{}' exists; give --overwrite to replace it", o.out));
  const auto classes = parse_mask_classes(o);
  const bool labelled = !o.masks.empty();

  ImportReport report;
  const auto images = files_by_name(o.images, "images", &report.skipped);
  std::map<std::string, fs::path> masks;
  if (labelled) {
    masks = files_by_name(o.masks, "masks", &report.skipped);
    std::vector<std::string> no_mask, no_image;
    for (const auto& [name, file] : images)
      if (!masks.count(name)) no_mask.push_back(fs::relative(file, o.images).generic_string());
    for (const auto& [name, file] : masks)
      if (!images.count(name)) no_image.push_back(fs::relative(file, o.masks).generic_string());
    if (!no_mask.empty() || !no_image.empty())
      throw UserError(fmt::format(
          "unpaired files: {} image(s) without a mask (e.g. {}), {} mask(s) without an image (e.g. {}); images and "
          "masks pair by their path without extension",
          no_mask.size(), no_mask.empty() ? "none" : examples(no_mask), no_image.size(),
          no_image.empty() ? "none" : examples(no_image)));
  }
  std::vector<std::string> names;
  for (const auto& [name, file] : images) names.push_back(name);
  const auto split = assign_splits(o, names, &report.split_groups);

  fs::create_directories(out.parent_path());
  TemporaryPath partial(out);  // removed unless the whole dataset is written
  const fs::path& tmp = partial.path();
  fs::create_directories(tmp / "img");
  const int k = static_cast<int>(classes.size());
  std::vector<MaskStats> stats(names.size(), MaskStats{std::vector<int64_t>(k, 0)});
  ProgressBar bar("import", static_cast<int64_t>(names.size()), "img");
  constexpr int kChunk = 32;
  for (size_t begin = 0; begin < names.size(); begin += kChunk) {
    check_interrupted();
    const size_t end = std::min(names.size(), begin + kChunk);
    std::vector<std::string> errors(end - begin);
    cv::parallel_for_(cv::Range(static_cast<int>(begin), static_cast<int>(end)), [&](const cv::Range& r) {
      for (int i = r.start; i < r.end; ++i) {
        try {
          const fs::path& image_file = images.at(names[i]);
          const cv::Mat image = cv::imread(image_file.string(), cv::IMREAD_COLOR);
          if (image.empty()) throw UserError(fmt::format("cannot read the image '{}'", image_file.string()));
          write_png(tmp / "img" / (names[i] + ".png"), image);
          if (!labelled) continue;
          const fs::path& mask_file = masks.at(names[i]);
          const cv::Mat mask = read_mask(mask_file, o.encoding);
          if (mask.size() != image.size())
            throw UserError(fmt::format("the mask '{}' is {}x{} but its image '{}' is {}x{} (HxW)", mask_file.string(),
                                        mask.rows, mask.cols, image_file.string(), image.rows, image.cols));
          write_png(tmp / "label" / (names[i] + ".png"), mask_to_ids(mask, mask_file, o, classes, &stats[i]));
        } catch (const std::exception& e) {
          errors[i - begin] = e.what();
        }
      }
    });
    for (const auto& e : errors)
      if (!e.empty()) throw UserError(e);
    bar.advance(static_cast<int64_t>(end - begin));
  }
  bar.finish();

  std::map<std::string, std::string> lists;
  for (size_t i = 0; i < names.size(); ++i) lists[split[i]] += names[i] + "\n", ++report.split_sizes[split[i]];
  for (const auto& [name, text] : lists) write_text_file(tmp / (name + ".txt"), text);
  report.pairs = static_cast<int>(names.size());
  for (const auto& c : classes) report.class_names.push_back(c.name);
  MaskStats total{std::vector<int64_t>(k, 0)};
  for (const auto& s : stats) {
    for (int c = 0; c < k; ++c) total.class_pixels[c] += s.class_pixels[c];
    total.ignored += s.ignored, total.ambiguous += s.ambiguous, total.pixels += s.pixels;
  }
  if (labelled && total.pixels > 0) {
    for (int c = 0; c < k; ++c) report.class_share.push_back(double(total.class_pixels[c]) / total.pixels);
    report.ambiguous_share = double(total.ambiguous) / total.pixels;
  }
  report.ignored_pixels = total.ignored;

  write_text_file(tmp / "info.json",
                  nlohmann::json({{"classes", k}, {"label", report.class_names}}).dump() + "\n");
  OptionBinder binder;
  ImportOptions copy = o;
  copy.bind(binder);
  nlohmann::json record = {{"options", bindings_json(binder.bindings())},
                           {"pairs", report.pairs},
                           {"labelled", labelled},
                           {"classes", report.class_names},
                           {"split_sizes", report.split_sizes},
                           {"skipped_files", report.skipped}};
  if (!report.split_groups.empty()) record["split_groups"] = report.split_groups;
  if (labelled) {
    record["class_pixel_share"] = report.class_share;
    if (o.encoding == MaskEncoding::binary) record["pixels_near_threshold_share"] = report.ambiguous_share;
    if (o.encoding == MaskEncoding::ids) record["ignored_pixels"] = report.ignored_pixels;
  }
  write_text_file(tmp / "import.json", record.dump(2) + "\n");
  partial.commit();
  return report;
}

}  // namespace jcas
