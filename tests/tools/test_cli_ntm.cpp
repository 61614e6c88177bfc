// `jcas ntm derive-affinity` end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/support/cli_runner.h"

namespace {

using jcas::testing::run_jcas_line;

// The slide example of DESIGN §3.2 as its empirical class NTM and class proportions.
const char* kSlide = "--class-ntm \"0.6666667,0.3333333,0,0; 0,0.5,0.5,0; 0,0,0.5,0.5; 0.5,0,0,0.5\" "
                     "--class-dist \"0.3333333,0.2222222,0.2222222,0.2222222\"";

TEST(CliNtm, DeriveAffinityJson) {
  auto r = run_jcas_line(std::string("ntm derive-affinity --json ") + kSlide);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  double a, b, c, d;
  ASSERT_EQ(std::sscanf(r.output.c_str(), "{\"affinity_ntm\": [[%lf, %lf], [%lf, %lf]]", &a, &b, &c, &d), 4) << r.output;
  EXPECT_NEAR(a, 50.0 / 60, 1e-5);
  EXPECT_NEAR(b, 10.0 / 60, 1e-5);
  EXPECT_NEAR(c, 10.0 / 21, 1e-5);
  EXPECT_NEAR(d, 11.0 / 21, 1e-5);
}

TEST(CliNtm, RejectsBadInputNamingTheOption) {
  const std::pair<const char*, const char*> cases[] = {
      {"--class-ntm \"0.5,0.5;0.5\" --class-dist \"0.5,0.5\"", "--class-ntm"},            // not square
      {"--class-ntm \"0.5,0.6;0.5,0.5\" --class-dist \"0.5,0.5\"", "--class-ntm"},         // row sum
      {"--class-ntm \"1.5,-0.5;0.5,0.5\" --class-dist \"0.5,0.5\"", "--class-ntm"},        // negative
      {"--class-ntm \"0.5,0.5;0.5,0.5\" --class-dist \"0.5,0.3,0.2\"", "--class-dist"},    // size
      {"--class-ntm \"0.5,0.5;0.5,0.5\" --class-dist \"0.5,0.6\"", "--class-dist"},        // sum
      {"--class-dist \"0.5,0.5\"", "--class-ntm"},                                         // missing
  };
  for (const auto& [args, option] : cases) {
    auto r = run_jcas_line(std::string("ntm derive-affinity ") + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(option), std::string::npos) << args << "\n" << r.output;
  }
}

}  // namespace
