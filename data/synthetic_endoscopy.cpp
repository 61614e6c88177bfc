#include "data/synthetic_endoscopy.h"
#include "data/portable_rng.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "adapters/foundation/temporary_path.h"
#include "adapters/io/file_writes.h"
#include "adapters/io/segmentation_dataset.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"

namespace fs = std::filesystem;

namespace jcas {

namespace {

constexpr float kPi = 3.14159265358979f;

// Everything that differs between the two domains. Colours are BGR in [0, 1].
struct Style {
  cv::Vec3f tissue;          // base tissue colour
  float tissue_jitter;       // per-image colour jitter
  cv::Vec3f shaft, wrist, clasper;  // instrument albedos
  float metal_spec;          // strength of the specular stripe on instruments (polished vs dull)
  float ring_amp;            // contrast of the wrist's rings
  float gain_lo, gain_hi;    // illumination
  float vignette;            // darkening at the corners
  float light_offset;        // how far the light centre may move off the image centre (fraction)
  cv::Vec3f cast;            // colour cast multiplier
  float cast_jitter;
  float blur_lo, blur_hi;    // Gaussian blur sigma (pixels at 128 px height)
  float noise;               // sensor noise sigma
  float haze_lo, haze_hi;    // smoke opacity
};

const Style& style_of(SynthDomain d) {
  // Source: bright, sharp, clean, pink tissue, polished grey metal.
  static const Style source{{0.46f, 0.44f, 0.86f}, 0.05f,
                            {0.66f, 0.64f, 0.62f}, {0.50f, 0.52f, 0.56f}, {0.80f, 0.80f, 0.80f},
                            0.55f, 0.35f,
                            0.95f, 1.10f, 0.35f, 0.10f,
                            {1.0f, 1.0f, 1.0f}, 0.03f,
                            0.3f, 0.6f, 0.010f, 0.0f, 0.0f};
  // Target: dimmer off-centre light, yellow cast, blur, sensor noise, smoke, darker orange
  // tissue, bluish-grey shafts, brass wrists and duller jaws. Several shifts at once, each
  // moderate, so shape still transfers but colour cues mislead. Calibrated with a small 6-layer
  // CNN trained 8 epochs on the default source split: foreground mIoU 0.82 on the source test
  // split, 0.49 on the target test split (claspers and wrists taken for shafts).
  static const Style target{{0.34f, 0.42f, 0.80f}, 0.06f,
                            {0.50f, 0.44f, 0.40f}, {0.34f, 0.42f, 0.50f}, {0.84f, 0.86f, 0.88f},
                            0.35f, 0.28f,
                            0.82f, 0.98f, 0.50f, 0.25f,
                            {0.88f, 1.02f, 1.00f}, 0.05f,
                            0.7f, 1.1f, 0.025f, 0.04f, 0.20f};
  return d == SynthDomain::source ? source : target;
}

// The style of `domain` at shift strength `shift`: the source is fixed; the target moves along
// the line from the source style (shift 0) through today's target (shift 1) and beyond
// (target + (shift - 1) (target - source), field by field), clamped where a value must stay
// physical. Shift 1 is the target style itself, untouched (the default data stays byte-identical).
Style shifted_style(SynthDomain domain, double shift) {
  const Style& src = style_of(SynthDomain::source);
  const Style& tgt = style_of(SynthDomain::target);
  if (domain == SynthDomain::source || shift == 1.0) return style_of(domain);
  const float k = static_cast<float>(shift - 1.0);
  auto lerp = [k](float s, float t, float lo, float hi) { return std::clamp(t + k * (t - s), lo, hi); };
  auto lerp3 = [&](const cv::Vec3f& s, const cv::Vec3f& t, float lo, float hi) {
    return cv::Vec3f(lerp(s[0], t[0], lo, hi), lerp(s[1], t[1], lo, hi), lerp(s[2], t[2], lo, hi));
  };
  constexpr float inf = 1e9f;
  Style o;
  o.tissue = lerp3(src.tissue, tgt.tissue, 0.f, 1.f);
  o.tissue_jitter = lerp(src.tissue_jitter, tgt.tissue_jitter, 0.f, 0.5f);
  o.shaft = lerp3(src.shaft, tgt.shaft, 0.f, 1.f);
  o.wrist = lerp3(src.wrist, tgt.wrist, 0.f, 1.f);
  o.clasper = lerp3(src.clasper, tgt.clasper, 0.f, 1.f);
  o.metal_spec = lerp(src.metal_spec, tgt.metal_spec, 0.f, 1.f);
  o.ring_amp = lerp(src.ring_amp, tgt.ring_amp, 0.f, 1.f);
  o.gain_lo = lerp(src.gain_lo, tgt.gain_lo, 0.05f, inf);
  o.gain_hi = std::max(o.gain_lo, lerp(src.gain_hi, tgt.gain_hi, 0.05f, inf));
  o.vignette = lerp(src.vignette, tgt.vignette, 0.f, 0.95f);
  o.light_offset = lerp(src.light_offset, tgt.light_offset, 0.f, 0.5f);
  o.cast = lerp3(src.cast, tgt.cast, 0.f, 2.f);
  o.cast_jitter = lerp(src.cast_jitter, tgt.cast_jitter, 0.f, 0.5f);
  o.blur_lo = lerp(src.blur_lo, tgt.blur_lo, 0.05f, inf);  // a Gaussian sigma must stay > 0
  o.blur_hi = std::max(o.blur_lo, lerp(src.blur_hi, tgt.blur_hi, 0.05f, inf));
  o.noise = lerp(src.noise, tgt.noise, 0.f, inf);
  o.haze_lo = lerp(src.haze_lo, tgt.haze_lo, 0.f, 0.9f);
  o.haze_hi = std::max(o.haze_lo, lerp(src.haze_hi, tgt.haze_hi, 0.f, 0.9f));
  return o;
}

// Smooth noise in [0, 1]: octaves of bicubically upsampled random grids.
cv::Mat fractal_noise(PortableRng& rng, int h, int w, float base_cell, int octaves) {
  cv::Mat sum = cv::Mat::zeros(h, w, CV_32F);
  float amp = 1.f, total = 0.f, cell = base_cell;
  for (int o = 0; o < octaves; ++o) {
    const int gh = std::max(2, static_cast<int>(h / cell) + 2), gw = std::max(2, static_cast<int>(w / cell) + 2);
    cv::Mat grid(gh, gw, CV_32F);
    for (int y = 0; y < gh; ++y)
      for (int x = 0; x < gw; ++x) grid.at<float>(y, x) = static_cast<float>(rng.uni());
    cv::Mat up;
    cv::resize(grid, up, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
    sum += amp * up;
    total += amp;
    amp *= 0.5f;
    cell *= 0.5f;
  }
  sum /= total;
  cv::Mat out;
  cv::min(cv::max(sum, 0.0), 1.0, out);
  return out;
}

cv::Point2f rotate(cv::Point2f v, float angle) {
  const float c = std::cos(angle), s = std::sin(angle);
  return {c * v.x - s * v.y, s * v.x + c * v.y};
}
cv::Point2f normalized(cv::Point2f v) {
  const float n = std::sqrt(v.dot(v));
  return n > 0 ? v * (1.f / n) : cv::Point2f(1, 0);
}

// One rigid piece of an instrument, shaded as a cylinder around the axis a -> b.
struct Part {
  int cls;               // label class
  cv::Point2f a, b;      // axis
  float half_width;      // for the cylinder shading
  cv::Vec3f albedo;
  float ring_period = 0;  // > 0: rings across the axis (the wrist's joint segments)
  float ring_amp = 0;
};

struct Instrument {
  std::vector<Part> parts;
  std::vector<std::vector<cv::Point>> polygons;  // per part (convex), empty for circles
  std::vector<std::pair<cv::Point2f, float>> circles;  // per part: centre, radius (radius 0 = none)
};

cv::Point to_fixed(cv::Point2f p) {  // 4 fractional bits for sub-pixel polygon edges
  return {static_cast<int>(std::lround(p.x * 16.f)), static_cast<int>(std::lround(p.y * 16.f))};
}

std::vector<cv::Point> quad(cv::Point2f a, cv::Point2f b, float half_a, float half_b) {
  const cv::Point2f d = normalized(b - a), n(-d.y, d.x);
  return {to_fixed(a + n * half_a), to_fixed(b + n * half_b), to_fixed(b - n * half_b), to_fixed(a - n * half_a)};
}

// A shaft entering from a random border towards the central area, a bent wrist, two jaws.
Instrument make_instrument(PortableRng& rng, const Style& st, int h, int w, float s, float albedo_jitter) {
  Instrument ins;
  const float W = static_cast<float>(w), H = static_cast<float>(h);
  cv::Point2f entry, target, p1, dir;
  const float shaft_w = rng.uni(13.0, 22.0) * s;
  const float wrist_len = rng.uni(0.7, 1.1) * shaft_w, jaw_len = rng.uni(1.1, 1.7) * shaft_w;
  for (int attempt = 0;; ++attempt) {
    const int side = rng.integer(0, 3);
    const float t = rng.uni(0.1, 0.9);
    entry = side == 0 ? cv::Point2f(t * W, 0) : side == 1 ? cv::Point2f(W, t * H)
          : side == 2 ? cv::Point2f(t * W, H) : cv::Point2f(0, t * H);
    target = {rng.uni(0.25, 0.75) * W, rng.uni(0.25, 0.75) * H};
    dir = normalized(target - entry);
    p1 = target - dir * (wrist_len + 0.6f * jaw_len);
    const float m = 0.08f * std::min(W, H);
    // The shaft end must be inside the image with a visible length of shaft before it.
    if ((p1.x > m && p1.x < W - m && p1.y > m && p1.y < H - m && (p1 - entry).dot(dir) > shaft_w) || attempt > 50) break;
  }
  auto jitter = [&](cv::Vec3f c) {
    const float g = 1.f + albedo_jitter * rng.normal();
    return cv::Vec3f(c[0] * g, c[1] * g, c[2] * g);
  };
  const float diag = std::sqrt(W * W + H * H);
  const cv::Point2f p0 = entry - dir * diag;  // far outside: the shaft crosses the border
  // Perspective: the shaft is wider where it enters (closer to the camera).
  Part shaft{1, p0, p1, 0.5f * shaft_w * 1.15f, jitter(st.shaft)};
  ins.parts.push_back(shaft);
  ins.polygons.push_back(quad(p0, p1, 0.5f * shaft_w * 1.5f, 0.5f * shaft_w));
  ins.circles.push_back({{}, 0.f});

  const cv::Point2f dir2 = rotate(dir, rng.uni(-0.6, 0.6));
  const cv::Point2f p2 = p1 + dir2 * wrist_len;
  const float wrist_hw = 0.5f * shaft_w * rng.uni(0.78, 0.9);
  const cv::Vec3f wrist_albedo = jitter(st.wrist);
  Part joint{2, p1 - dir2 * 2.f, p2, wrist_hw, wrist_albedo, wrist_len / 2.5f, st.ring_amp};
  ins.parts.push_back(joint);  // rounded joint where the wrist meets the shaft
  ins.polygons.push_back({});
  ins.circles.push_back({p1, wrist_hw * 1.02f});
  ins.parts.push_back(joint);  // wrist body
  ins.polygons.push_back(quad(p1, p2, wrist_hw, wrist_hw * 0.9f));
  ins.circles.push_back({{}, 0.f});

  const cv::Point2f dir3 = rotate(dir2, rng.uni(-0.4, 0.4));
  const float open = rng.uni(0.05, 0.8);  // opening angle of the jaws
  const float jaw_base = 0.5f * shaft_w * rng.uni(0.32, 0.42), jaw_tip = 0.5f * shaft_w * 0.12f;
  const cv::Vec3f jaw_albedo = jitter(st.clasper);
  for (int side : {-1, 1}) {
    const cv::Point2f dj = rotate(dir3, side * open / 2.f);
    const cv::Point2f base = p2 + cv::Point2f(-dir3.y, dir3.x) * (side * jaw_base * 0.8f);
    const cv::Point2f tip = base + dj * jaw_len;
    ins.parts.push_back(Part{3, base, tip, jaw_base, jaw_albedo});
    ins.polygons.push_back(quad(base - dj * 1.5f, tip, jaw_base, jaw_tip));
    ins.circles.push_back({{}, 0.f});
  }
  return ins;
}

// Draws the instrument over image/label: later instruments occlude earlier ones.
void draw_instrument(const Instrument& ins, const Style& st, PortableRng& rng, float s, cv::Mat& image, cv::Mat& label) {
  const int h = image.rows, w = image.cols;
  cv::Mat ids = cv::Mat::zeros(h, w, CV_8U);  // part index + 1
  for (size_t i = 0; i < ins.parts.size(); ++i) {
    const int v = static_cast<int>(i) + 1;
    if (ins.circles[i].second > 0)
      cv::circle(ids, to_fixed(ins.circles[i].first), static_cast<int>(std::lround(ins.circles[i].second * 16.f)),
                 cv::Scalar(v), cv::FILLED, cv::LINE_8, 4);
    else
      cv::fillConvexPoly(ids, ins.polygons[i], cv::Scalar(v), cv::LINE_8, 4);
  }
  // Soft contact shadow on the tissue around the instrument.
  cv::Mat mask = (ids > 0), shadow;
  mask.convertTo(shadow, CV_32F, 1.0 / 255.0);
  cv::GaussianBlur(shadow, shadow, cv::Size(0, 0), 3.0 * s);
  const float highlight = rng.uni(-0.45, 0.1);  // where the specular stripe runs across the cylinder
  const float spec = st.metal_spec * rng.uni(0.7, 1.2);
  for (int y = 0; y < h; ++y) {
    const uint8_t* id = ids.ptr<uint8_t>(y);
    const float* sh = shadow.ptr<float>(y);
    cv::Vec3f* px = image.ptr<cv::Vec3f>(y);
    uint8_t* lb = label.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      if (!id[x]) {
        px[x] *= 1.f - 0.4f * sh[x];
        continue;
      }
      const Part& p = ins.parts[id[x] - 1];
      const cv::Point2f d = normalized(p.b - p.a), q = cv::Point2f(x + 0.5f, y + 0.5f) - p.a;
      const float along = q.dot(d);
      const float u = std::clamp((d.x * q.y - d.y * q.x) / p.half_width, -1.f, 1.f);
      const float nz = std::sqrt(std::max(0.f, 1.f - u * u));
      float shade = 0.3f + 0.7f * nz;
      if (p.ring_period > 0) shade *= 1.f - p.ring_amp * (0.5f + 0.5f * std::cos(2.f * kPi * along / p.ring_period));
      const float stripe = spec * std::exp(-(u - highlight) * (u - highlight) / 0.03f);
      px[x] = p.albedo * shade + cv::Vec3f(stripe, stripe, stripe);
      lb[x] = static_cast<uint8_t>(p.cls);
    }
  }
}

cv::Mat render_tissue(PortableRng& rng, const Style& st, int h, int w, float s) {
  cv::Vec3f base = st.tissue;
  for (int c = 0; c < 3; ++c) base[c] *= 1.f + st.tissue_jitter * rng.normal();
  cv::Mat coarse = fractal_noise(rng, h, w, 48.f * s, 4);
  cv::Mat fine = fractal_noise(rng, h, w, 6.f * s, 2);
  // Vessels: random walks drawn thin and dark red.
  cv::Mat vessels = cv::Mat::zeros(h, w, CV_32F);
  const int n_vessels = rng.integer(3, 7);
  for (int v = 0; v < n_vessels; ++v) {
    std::vector<cv::Point> pts;
    cv::Point2f p(rng.uni(0, w), rng.uni(0, h));
    float angle = rng.uni(0, 2 * kPi);
    const int steps = rng.integer(20, 70);
    for (int i = 0; i < steps; ++i) {
      pts.push_back(to_fixed(p));
      angle += 0.3f * rng.normal();
      p += cv::Point2f(std::cos(angle), std::sin(angle)) * (2.5f * s);
    }
    const float strength = rng.uni(0.4, 1.0);
    cv::polylines(vessels, pts, false, cv::Scalar(strength), std::max(1, static_cast<int>(rng.uni(1, 2.6) * s)),
                  cv::LINE_AA, 4);
  }
  cv::GaussianBlur(vessels, vessels, cv::Size(0, 0), 0.7 * s);
  cv::Mat img(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y) {
    const float* c = coarse.ptr<float>(y);
    const float* f = fine.ptr<float>(y);
    const float* ve = vessels.ptr<float>(y);
    cv::Vec3f* px = img.ptr<cv::Vec3f>(y);
    for (int x = 0; x < w; ++x) {
      // Darker folds are redder: blue and green fall faster than red.
      const float t = c[x], g = 0.85f + 0.3f * (f[x] - 0.5f);
      const float v = std::min(1.f, ve[x]);
      px[x] = cv::Vec3f(base[0] * (0.55f + 0.7f * t) * g * (1.f - 0.55f * v),
                        base[1] * (0.55f + 0.7f * t) * g * (1.f - 0.55f * v),
                        base[2] * (0.75f + 0.35f * t) * g * (1.f - 0.3f * v));
    }
  }
  // Specular highlights of the wet mucosa.
  cv::Mat spots = cv::Mat::zeros(h, w, CV_32F);
  const int n_spots = rng.integer(3, 9);
  for (int i = 0; i < n_spots; ++i) {
    const cv::Point2f c(rng.uni(0, w), rng.uni(0, h));
    const cv::Size axes(static_cast<int>(rng.uni(1, 5) * s * 16), static_cast<int>(rng.uni(1, 3) * s * 16));
    cv::ellipse(spots, to_fixed(c), axes, rng.uni(0, 180), 0, 360, cv::Scalar(rng.uni(0.6, 1.0)), cv::FILLED,
                cv::LINE_AA, 4);
  }
  cv::GaussianBlur(spots, spots, cv::Size(0, 0), 0.8 * s);
  for (int y = 0; y < h; ++y) {
    const float* sp = spots.ptr<float>(y);
    cv::Vec3f* px = img.ptr<cv::Vec3f>(y);
    for (int x = 0; x < w; ++x) px[x] += cv::Vec3f(sp[x], sp[x], sp[x]);
  }
  return img;
}

// Illumination, colour cast, smoke, blur, sensor noise: the camera half of the style.
void apply_camera(PortableRng& rng, const Style& st, float s, cv::Mat& img) {
  const int h = img.rows, w = img.cols;
  const float gain = rng.uni(st.gain_lo, st.gain_hi);
  const float cx = w * (0.5f + st.light_offset * rng.uni(-1, 1)), cy = h * (0.5f + st.light_offset * rng.uni(-1, 1));
  const float r_max = std::sqrt(0.25f * (w * w + h * h));
  cv::Vec3f cast = st.cast;
  for (int c = 0; c < 3; ++c) cast[c] *= 1.f + st.cast_jitter * rng.normal();
  const float haze = rng.uni(st.haze_lo, st.haze_hi);
  cv::Mat smoke = haze > 0 ? fractal_noise(rng, h, w, 64.f * s, 3) : cv::Mat();
  const cv::Vec3f smoke_color(0.78f, 0.80f, 0.80f);
  for (int y = 0; y < h; ++y) {
    cv::Vec3f* px = img.ptr<cv::Vec3f>(y);
    for (int x = 0; x < w; ++x) {
      const float r = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy)) / r_max;
      const float light = gain * std::max(0.05f, 1.f - st.vignette * std::pow(r, 2.2f));
      cv::Vec3f v = px[x] * light;
      v = cv::Vec3f(v[0] * cast[0], v[1] * cast[1], v[2] * cast[2]);
      if (haze > 0) {
        const float a = haze * (0.4f + 1.2f * smoke.at<float>(y, x));
        v = v * (1.f - std::min(a, 0.9f)) + smoke_color * std::min(a, 0.9f);
      }
      px[x] = v;
    }
  }
  cv::GaussianBlur(img, img, cv::Size(0, 0), rng.uni(st.blur_lo, st.blur_hi) * s);
  for (int y = 0; y < h; ++y) {
    cv::Vec3f* px = img.ptr<cv::Vec3f>(y);
    for (int x = 0; x < w; ++x) {
      const float lum = st.noise * rng.normal();  // luminance plus weaker chroma noise
      for (int c = 0; c < 3; ++c) px[x][c] += lum + 0.4f * st.noise * rng.normal();
    }
  }
}

std::string info_json() {
  const nlohmann::json info = {{"classes", 4}, {"label", {"background", "shaft", "wrist", "clasper"}}};
  return info.dump() + "\n";
}

}  // namespace

void check_synthetic_shift(double shift) {
  if (!(shift >= kMinSyntheticShift && shift <= kMaxSyntheticShift))
    throw UserError(fmt::format("synthetic domain shift {} out of range ({}..{}; 0 = the source style, 1 = the default "
                                "target)", shift, kMinSyntheticShift, kMaxSyntheticShift));
}

uint64_t synthetic_scene_seed(uint64_t seed, SynthDomain domain, const std::string& split, int index) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ (domain == SynthDomain::source ? 0x50u : 0x7Au));
  for (unsigned char c : split) h = splitmix64(h ^ c);
  return splitmix64(h ^ static_cast<uint64_t>(index));
}

SynthScene render_synthetic_scene(SynthDomain domain, uint64_t scene_seed, int height, int width, double shift) {
  if (height < 16 || width < 16) throw UserError(fmt::format("synthetic image size {}x{} too small (min 16x16)", height, width));
  check_synthetic_shift(shift);
  PortableRng rng(scene_seed);
  const Style st = shifted_style(domain, shift);
  const float s = std::min(height, width) / 128.f;  // feature sizes are designed at 128 px
  cv::Mat img = render_tissue(rng, st, height, width, s);
  cv::Mat label = cv::Mat::zeros(height, width, CV_8U);
  const int n = rng.chance(0.55) ? 2 : 1;
  for (int i = 0; i < n; ++i) {
    Instrument ins = make_instrument(rng, st, height, width, s, 0.06f);
    draw_instrument(ins, st, rng, s, img, label);
  }
  apply_camera(rng, st, s, img);
  SynthScene out;
  img.convertTo(out.image, CV_8UC3, 255.0);  // rounds and saturates
  out.label = label;
  return out;
}

void SynthOptions::bind(OptionBinder& b, char sep) {
  auto key = [sep](std::string k) {
    std::replace(k.begin(), k.end(), '_', sep);
    return k;
  };
  const std::pair<const char*, int*> counts[] = {{"source_train", &source_train}, {"source_val", &source_val},
                                                 {"source_test", &source_test},   {"target_train", &target_train},
                                                 {"target_val", &target_val},     {"target_test", &target_test}};
  for (const auto& [name, field] : counts) {
    const std::string k(name);
    const auto u = k.find('_');
    b.bind(key(k), field, fmt::format("synthetic {} {} images", k.substr(0, u), k.substr(u + 1)));
  }
  b.bind(
      "size", "synthetic image size HxW", [this] { return fmt::format("{}x{}", height, width); },
      [this](const std::string& text) {
        const ImageSize s = parse_image_size(text, "size");
        height = s.height, width = s.width;
      });
  b.bind("shift", &shift,
         fmt::format("strength of the target's domain shift ({}..{}): 0 = the source style, 1 = the default target, "
                     "1.5 = a stronger shift (target + (shift - 1) (target - source), clamped)",
                     kMinSyntheticShift, kMaxSyntheticShift));
}

void SynthOptions::check() const {
  check_synthetic_shift(shift);
  const int counts[] = {source_train, source_val, source_test, target_train, target_val, target_test};
  for (int c : counts)
    if (c < 1) throw UserError(fmt::format("synth: every split needs at least one image, got {}", c));
  if (height < 16 || width < 16 || height > 4096 || width > 4096)
    throw UserError(fmt::format("synth: size {}x{} out of range (16..4096)", height, width));
}

void generate_synthetic_dataset(const SynthOptions& o) {
  if (o.out.empty()) throw UserError("synth: no output folder given (--out DIR)");
  o.check();
  const int counts[] = {o.source_train, o.source_val, o.source_test, o.target_train, o.target_val, o.target_test};
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec || !fs::is_directory(o.out)) throw UserError(fmt::format("synth: cannot create folder '{}'", o.out));

  struct Split {
    const char* name;
    int count;
  };
  const std::pair<SynthDomain, std::vector<Split>> domains[] = {
      {SynthDomain::source, {{"train", o.source_train}, {"val", o.source_val}, {"test", o.source_test}}},
      {SynthDomain::target, {{"train", o.target_train}, {"val", o.target_val}, {"test", o.target_test}}}};
  int total = 0;
  for (int c : counts) total += c;
  std::unique_ptr<ProgressBar> bar;
  if (o.progress) bar = std::make_unique<ProgressBar>("synth", total, "img");
  for (const auto& [domain, splits] : domains) {
    const std::string dname = domain == SynthDomain::source ? "source" : "target";
    const fs::path final_dir = fs::path(o.out) / dname;
    TemporaryPath partial(final_dir);  // removed if generation stops half-way
    const fs::path& tmp = partial.path();
    fs::create_directories(tmp / "img");
    fs::create_directories(tmp / "label");
    for (const auto& split : splits) {
      std::string list;
      for (int i = 0; i < split.count; ++i) list += fmt::format("{}_{:04d}\n", split.name, i);
      // Scenes are independent (own seed, own files), so chunks render in parallel; the bytes do
      // not depend on the thread count.
      constexpr int kChunk = 16;
      for (int begin = 0; begin < split.count; begin += kChunk) {
        check_interrupted();
        const int end = std::min(split.count, begin + kChunk);
        std::vector<std::string> errors(end - begin);
        cv::parallel_for_(cv::Range(begin, end), [&](const cv::Range& r) {
          for (int i = r.start; i < r.end; ++i) {
            try {
              const std::string name = fmt::format("{}_{:04d}", split.name, i);
              SynthScene scene = render_synthetic_scene(domain, synthetic_scene_seed(o.seed, domain, split.name, i),
                                                        o.height, o.width, o.shift);
              write_png(tmp / "img" / (name + ".png"), scene.image);
              write_png(tmp / "label" / (name + ".png"), scene.label);
            } catch (const std::exception& e) {
              errors[i - begin] = e.what();
            }
          }
        });
        for (const auto& e : errors)
          if (!e.empty()) throw UserError(e);
        if (bar) bar->advance(end - begin);
      }
      write_text_file(tmp / (std::string(split.name) + ".txt"), list);
    }
    write_text_file(tmp / "info.json", info_json());
    partial.commit();
  }
  if (bar) bar->finish();
}

void write_synthetic_panel(const std::string& root, const std::string& png_path, int per_domain) {
  if (per_domain < 1) throw UserError("synth panel: need at least one example per domain");
  const int gap = 4, title_h = 18;
  std::vector<cv::Mat> rows;
  std::vector<std::string> class_names;
  for (const char* dname : {"source", "target"}) {
    DatasetOptions opt;
    opt.root = (fs::path(root) / dname).string();
    SegmentationDataset ds(opt, "test");
    class_names = ds.class_names();
    std::vector<cv::Mat> imgs, labels;
    for (int i = 0; i < per_domain && i < static_cast<int>(ds.size()); ++i) {
      imgs.push_back(cv::imread(ds.image_path(i), cv::IMREAD_COLOR));
      labels.push_back(label_to_color(ds.read_label(i)));
    }
    const int h = imgs[0].rows, w = imgs[0].cols, n = static_cast<int>(imgs.size());
    cv::Mat block(title_h + 2 * h + gap, n * w + (n - 1) * gap, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(block, std::string(dname) + " (image / label)", {2, title_h - 5}, cv::FONT_HERSHEY_SIMPLEX, 0.45,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (int i = 0; i < n; ++i) {
      imgs[i].copyTo(block(cv::Rect(i * (w + gap), title_h, w, h)));
      labels[i].copyTo(block(cv::Rect(i * (w + gap), title_h + h + gap, w, h)));
    }
    rows.push_back(block);
  }
  const int width = std::max(rows[0].cols, rows[1].cols);
  cv::Mat legend(24, width, CV_8UC3, cv::Scalar(255, 255, 255));
  int x = 2;
  for (size_t c = 0; c < class_names.size(); ++c) {
    auto col = palette_color(static_cast<int>(c));
    cv::rectangle(legend, cv::Rect(x, 6, 12, 12), cv::Scalar(col[0], col[1], col[2]), cv::FILLED);
    cv::rectangle(legend, cv::Rect(x, 6, 12, 12), cv::Scalar(0, 0, 0), 1);
    cv::putText(legend, class_names[c], {x + 16, 17}, cv::FONT_HERSHEY_SIMPLEX, 0.42, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
    x += 22 + static_cast<int>(class_names[c].size()) * 9;
  }
  cv::Mat panel(rows[0].rows + rows[1].rows + legend.rows + 2 * gap, width, CV_8UC3, cv::Scalar(255, 255, 255));
  rows[0].copyTo(panel(cv::Rect(0, 0, rows[0].cols, rows[0].rows)));
  rows[1].copyTo(panel(cv::Rect(0, rows[0].rows + gap, rows[1].cols, rows[1].rows)));
  legend.copyTo(panel(cv::Rect(0, rows[0].rows + rows[1].rows + 2 * gap, width, legend.rows)));
  const fs::path parent = fs::path(png_path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  write_png(png_path, panel);
}

}  // namespace jcas
