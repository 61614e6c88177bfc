#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace jcas {

// A one-line progress bar on stderr with rate and ETA; redrawn at most ~10 times a second.
// When stderr is not a terminal it prints a plain line every 10 % instead.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  ~ProgressBar();
  void advance(int64_t n = 1);
  // Extra text shown after the bar, e.g. the running loss.
  void set_postfix(std::string text);
  void finish();

 private:
  void draw(bool force);
  std::string label_, unit_, postfix_;
  int64_t total_, done_ = 0, last_printed_ = -1;
  int last_decile_ = -1;
  bool finished_ = false, tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);

}  // namespace jcas
