#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
namespace fs = std::filesystem;

TEST(H5Store, RoundTripTensorsAndAttributes) {
  jcas::testing::TempDir dir;
  fs::path path = dir.path() / "jcas_h5_roundtrip.h5";
  fs::remove(path);
  auto f = torch::randn({3, 4, 5});
  auto u = torch::randint(0, 255, {7, 9}, torch::kUInt8);
  {
    H5Writer w(path);
    w.write("a/b/f", f, "N,C,H");
    w.write("u", u);
    w.attr("/", "stage", std::string("pseudo_label"));
    w.attr("/", "seconds", 1.5);
    w.attr("a/b/f", "count", int64_t{3});
    EXPECT_FALSE(fs::exists(path)) << "visible before commit";
    w.commit();
  }
  H5Reader r(path);
  EXPECT_TRUE(torch::equal(r.read("a/b/f"), f));
  EXPECT_TRUE(torch::equal(r.read("u"), u));
  EXPECT_EQ(r.attr_string("/", "stage"), "pseudo_label");
  EXPECT_DOUBLE_EQ(r.attr_double("/", "seconds"), 1.5);
  EXPECT_EQ(r.attr_int("a/b/f", "count"), 3);
  EXPECT_EQ(r.attr_string("a/b/f", "axes"), "N,C,H");
  EXPECT_FALSE(r.has("a/c"));
  EXPECT_THROW(r.read("nope"), UserError);
}

// Large arrays are chunked in slices of about 1M elements, never element by element (a 13 MB
// TorchScript model stored as bytes once took minutes and 23 GB).
TEST(H5Store, LargeOneDimensionalArrayRoundTrips) {
  jcas::testing::TempDir dir;
  fs::path path = dir.path() / "jcas_h5_large.h5";
  auto bytes = torch::randint(0, 255, {5'000'001}, torch::kUInt8);
  auto maps = torch::rand({3, 700, 800});
  {
    H5Writer w(path);
    w.write("bytes", bytes);
    w.write("maps", maps);
    w.commit();
  }
  H5Reader r(path);
  EXPECT_TRUE(torch::equal(r.read("bytes"), bytes));
  EXPECT_TRUE(torch::equal(r.read("maps"), maps));
  fs::remove(path);
}

TEST(H5Store, UncommittedWriterLeavesNothing) {
  jcas::testing::TempDir dir;
  fs::path path = dir.path() / "jcas_h5_uncommitted.h5";
  fs::remove(path);
  {
    H5Writer w(path);
    w.write("x", torch::ones({2}));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST(H5Store, AWriterInMemoryTouchesNoDisk) {
  jcas::testing::TempDir dir;
  {
    H5Writer w(dir.path() / "sub" / "x.h5", H5Writer::Target::memory);
    w.write("x", torch::ones({1000}));
    w.attr("/", "k", std::string("v"));
    EXPECT_THROW(w.commit(), std::logic_error);
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(H5Store, ForeignOrTruncatedFileIsReported) {
  jcas::testing::TempDir dir;
  fs::path path = dir.path() / "jcas_h5_foreign.h5";
  std::ofstream(path) << "this is not hdf5";
  EXPECT_THROW(H5Reader{path}, UserError);
  EXPECT_THROW(H5Reader{dir.path() / "jcas_missing.h5"}, UserError);
}
