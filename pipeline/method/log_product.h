#pragma once
// A sum of logarithms as a running product: the corrected NLL's pass takes one log per block instead
// of one per term (the log dominated it).
#include <cmath>
#include <cstdint>
#include <cstring>

namespace jcas {

// Running product of values in (0, 2] kept as mantissa × 2^exponent; renormalise() at least every
// 4 factors >= e^-100 (then the mantissa cannot underflow a double).
struct LogSum {
  double mantissa = 1;
  int64_t exponent = 0;
  void renormalise() {
    uint64_t bits;
    std::memcpy(&bits, &mantissa, sizeof bits);
    exponent += static_cast<int64_t>((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ~(uint64_t{0x7ff} << 52)) | (uint64_t{1023} << 52);  // mantissa in [1, 2)
    std::memcpy(&mantissa, &bits, sizeof bits);
  }
  double value() const { return std::log(mantissa) + static_cast<double>(exponent) * 0.69314718055994530942; }
};

}  // namespace jcas
