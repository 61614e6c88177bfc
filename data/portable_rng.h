#pragma once
// Random draws that are the same with every standard library (std's distributions are
// implementation-defined), so a seed gives byte-identical data and noise everywhere.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace jcas {

// Mixes a 64-bit value; used to derive independent per-item seeds from one seed.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class PortableRng {
 public:
  explicit PortableRng(uint64_t seed) : g_(seed) {}
  double uni() { return static_cast<double>(g_() >> 11) * 0x1.0p-53; }                  // [0, 1)
  float uni(double a, double b) { return static_cast<float>(a + (b - a) * uni()); }      // [a, b)
  int integer(int lo, int hi) { return lo + static_cast<int>(uni() * (hi - lo + 1)); }  // [lo, hi]
  int below(int n) { return std::min(n - 1, static_cast<int>(uni() * n)); }             // [0, n)
  bool chance(double p) { return uni() < p; }
  float normal() {  // Box-Muller
    double u1 = uni(), u2 = uni();
    if (u1 < 1e-300) u1 = 1e-300;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.141592653589793 * u2));
  }

 private:
  std::mt19937_64 g_;
};

}  // namespace jcas
