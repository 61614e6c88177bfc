#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "adapters/io/segmentation_dataset.h"
#include "adapters/foundation/error.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
using jcas::testing::TempDir;
using jcas::testing::write_bytes;
namespace fs = std::filesystem;

namespace {

// A 6x8 two-image dataset with known pixels: image value at (y, x) = (10 + x, 128, 250 - y)
// (BGR), label = x / 2 % 4 with one ignore pixel.
void make_dataset(const fs::path& root, const std::string& list = "a\nb\n") {
  fs::create_directories(root / "img");
  fs::create_directories(root / "label");
  for (const char* name : {"a", "b"}) {
    cv::Mat img(6, 8, CV_8UC3), lbl(6, 8, CV_8UC1);
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 8; ++x) {
        img.at<cv::Vec3b>(y, x) = cv::Vec3b(10 + x, 128, 250 - y);
        lbl.at<uint8_t>(y, x) = static_cast<uint8_t>(x / 2 % 4);
      }
    lbl.at<uint8_t>(5, 7) = 255;
    cv::imwrite((root / "img" / (std::string(name) + ".png")).string(), img);
    cv::imwrite((root / "label" / (std::string(name) + ".png")).string(), lbl);
  }
  write_bytes(root / "info.json", R"({"classes": 4, "label": ["background", "shaft", "wrist", "clasper"]})");
  write_bytes(root / "train.txt", list);
}

DatasetOptions opts(const fs::path& root, int h = 0, int w = 0) {
  DatasetOptions o;
  o.root = root.string();
  o.input_h = h;
  o.input_w = w;
  return o;
}

// Asserts that opening (and reading sample 0 of) the dataset throws a UserError mentioning `needle`.
void expect_error(const DatasetOptions& o, const std::string& needle, bool with_labels = true) {
  try {
    SegmentationDataset ds(o, "train", with_labels);
    ds.get(0);
    ds.get(ds.size() - 1);
    FAIL() << "expected a UserError mentioning '" << needle << "'";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Dataset, ReadsNativeSizeWithReferenceNormalisation) {
  TempDir dir;
  make_dataset(dir.path());
  SegmentationDataset ds(opts(dir.path()), "train");
  EXPECT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ds.num_classes(), 4);
  EXPECT_EQ(ds.class_names()[3], "clasper");
  Sample s = ds.get(1);
  EXPECT_EQ(s.name, "b");
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{3, 6, 8}));
  EXPECT_EQ(s.image.scalar_type(), torch::kFloat32);
  ASSERT_EQ(s.label.sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(s.label.scalar_type(), torch::kUInt8);
  // Pixel (y=2, x=3) is BGR (13, 128, 248): channel order BGR, (x - 128) / 128.
  EXPECT_FLOAT_EQ(s.image[0][2][3].item<float>(), (13.f - 128.f) / 128.f);
  EXPECT_FLOAT_EQ(s.image[1][2][3].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(s.image[2][2][3].item<float>(), (248.f - 128.f) / 128.f);
  EXPECT_EQ(s.label[2][3].item<int>(), 1);
  EXPECT_EQ(s.label[5][7].item<int>(), 255);  // ignore kept
}

TEST(Dataset, HorizontalFlipMirrorsImageAndLabel) {
  TempDir dir;
  make_dataset(dir.path());
  SegmentationDataset ds(opts(dir.path()), "train");
  Sample a = ds.get(0), f = ds.get(0, true);
  EXPECT_TRUE(torch::equal(f.image, a.image.flip({2})));
  EXPECT_TRUE(torch::equal(f.label, a.label.flip({1})));
  EXPECT_EQ(f.label[5][0].item<int>(), 255);
}

TEST(Dataset, ResizesImageBicubicAndLabelNearest) {
  TempDir dir;
  make_dataset(dir.path());
  SegmentationDataset ds(opts(dir.path(), 12, 20), "train");
  Sample s = ds.get(0);
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{3, 12, 20}));
  ASSERT_EQ(s.label.sizes(), (std::vector<int64_t>{12, 20}));
  // Nearest keeps label values exact: no in-between classes appear.
  auto values = std::get<0>(at::_unique(s.label));
  for (int64_t i = 0; i < values.numel(); ++i) {
    int v = values[i].item<int>();
    EXPECT_TRUE(v <= 3 || v == 255) << v;
  }
  EXPECT_EQ(s.label[0][0].item<int>(), 0);
  EXPECT_EQ(s.label[0][19].item<int>(), 3);
  // The green channel is constant 128, which stays 0 after any interpolation.
  EXPECT_LT(s.image[1].abs().max().item<float>(), 1e-6f);
}

TEST(Dataset, BatchStacksSamples) {
  TempDir dir;
  make_dataset(dir.path());
  SegmentationDataset ds(opts(dir.path(), 4, 4), "train");
  auto [x, y] = ds.batch({1, 0, 1}, {false, false, true});
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, 3, 4, 4}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 4, 4}));
  EXPECT_EQ(y.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(x[2], ds.get(1, true).image));
  EXPECT_TRUE(torch::equal(y[0], ds.get(1).label));
}

TEST(Dataset, WithoutLabelsNeedsNoLabelFiles) {
  TempDir dir;
  make_dataset(dir.path());
  fs::remove_all(dir.path() / "label");
  SegmentationDataset ds(opts(dir.path()), "train", /*with_labels=*/false);
  Sample s = ds.get(0);
  EXPECT_TRUE(s.image.defined());
  EXPECT_FALSE(s.label.defined());
  auto [x, y] = ds.batch({0, 1});
  EXPECT_EQ(x.size(0), 2);
  EXPECT_FALSE(y.defined());
}

TEST(Dataset, ListNamesMayCarryExtensionsAndSubfolders) {
  TempDir dir;
  make_dataset(dir.path(), "# comment\n\n a.png \r\nb\n");
  SegmentationDataset ds(opts(dir.path()), "train");
  EXPECT_EQ(ds.names(), (std::vector<std::string>{"a.png", "b"}));
  EXPECT_EQ(fs::path(ds.image_path(0)).filename(), "a.png");
  EXPECT_EQ(fs::path(ds.label_path(1)).filename(), "b.png");
  EXPECT_NO_THROW(ds.get(0));
}

TEST(Dataset, CustomLabelFolder) {
  TempDir dir;
  make_dataset(dir.path());
  fs::create_directories(dir.path() / "part");
  fs::rename(dir.path() / "label", dir.path() / "part" / "part_lbl");
  auto o = opts(dir.path());
  o.label_dir = "part/part_lbl";
  SegmentationDataset ds(o, "train");
  EXPECT_EQ(ds.get(0).label[2][3].item<int>(), 1);
}

TEST(DatasetErrors, MissingRoot) {
  TempDir dir;
  expect_error(opts(dir.path() / "nope"), (dir.path() / "nope").string());
}

TEST(DatasetErrors, MissingListFile) {
  TempDir dir;
  make_dataset(dir.path());
  fs::remove(dir.path() / "train.txt");
  expect_error(opts(dir.path()), "train.txt");
}

TEST(DatasetErrors, MissingInfoJson) {
  TempDir dir;
  make_dataset(dir.path());
  fs::remove(dir.path() / "info.json");
  expect_error(opts(dir.path()), "info.json");
}

TEST(DatasetErrors, MalformedInfoJson) {
  TempDir dir;
  make_dataset(dir.path());
  write_bytes(dir.path() / "info.json", R"({"label": ["a", "b"]})");
  expect_error(opts(dir.path()), "info.json");
  write_bytes(dir.path() / "info.json", R"({"classes": 3, "label": ["a", "b"]})");
  expect_error(opts(dir.path()), "info.json");
}

TEST(DatasetErrors, EmptyList) {
  TempDir dir;
  make_dataset(dir.path(), "\n# nothing\n");
  expect_error(opts(dir.path()), "train.txt");
}

TEST(DatasetErrors, MissingImageFile) {
  TempDir dir;
  make_dataset(dir.path());
  fs::remove(dir.path() / "img" / "b.png");
  expect_error(opts(dir.path()), (dir.path() / "img" / "b.png").string());
}

TEST(DatasetErrors, MissingLabelFile) {
  TempDir dir;
  make_dataset(dir.path());
  fs::remove(dir.path() / "label" / "a.png");
  expect_error(opts(dir.path()), (dir.path() / "label" / "a.png").string());
}

TEST(DatasetErrors, UnreadableImage) {
  TempDir dir;
  make_dataset(dir.path());
  write_bytes(dir.path() / "img" / "b.png", "this is not a png");
  expect_error(opts(dir.path()), (dir.path() / "img" / "b.png").string());
}

TEST(DatasetErrors, ImageLabelSizeMismatch) {
  TempDir dir;
  make_dataset(dir.path());
  cv::imwrite((dir.path() / "label" / "a.png").string(), cv::Mat::zeros(5, 8, CV_8UC1));
  try {
    SegmentationDataset(opts(dir.path()), "train").get(0);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir.path() / "label" / "a.png").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("5x8"), std::string::npos) << msg;
  }
}

TEST(DatasetErrors, LabelValueOutOfRange) {
  TempDir dir;
  make_dataset(dir.path());
  cv::Mat lbl = cv::Mat::zeros(6, 8, CV_8UC1);
  lbl.at<uint8_t>(3, 4) = 7;
  cv::imwrite((dir.path() / "label" / "b.png").string(), lbl);
  SegmentationDataset ds(opts(dir.path()), "train");
  EXPECT_NO_THROW(ds.get(0));  // checked lazily, per sample
  try {
    ds.get(1);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find((dir.path() / "label" / "b.png").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("value 7"), std::string::npos) << msg;
  }
}

TEST(DatasetErrors, ColourLabelRejected) {
  TempDir dir;
  make_dataset(dir.path());
  cv::imwrite((dir.path() / "label" / "a.png").string(), cv::Mat::zeros(6, 8, CV_8UC3));
  expect_error(opts(dir.path()), "single-channel");
}

TEST(DatasetErrors, HalfGivenInputSize) {
  TempDir dir;
  make_dataset(dir.path());
  EXPECT_THROW(SegmentationDataset(opts(dir.path(), 4, 0), "train"), UserError);
}

TEST(DatasetHelpers, ImageTensorRoundTrip) {
  cv::Mat img(5, 7, CV_8UC3);
  cv::randu(img, 0, 256);
  auto t = image_to_tensor(img);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(cv::norm(tensor_to_image(t), img, cv::NORM_INF), 0.0);
  cv::Mat lbl(5, 7, CV_8UC1);
  cv::randu(lbl, 0, 4);
  EXPECT_EQ(cv::norm(label_tensor_to_mat(label_mat_to_tensor(lbl)), lbl, cv::NORM_INF), 0.0);
}

TEST(DatasetHelpers, PaletteIsFixedAndDistinct) {
  cv::Mat lbl = (cv::Mat_<uint8_t>(1, 5) << 0, 1, 2, 3, 255);
  cv::Mat c = label_to_color(lbl);
  ASSERT_EQ(c.type(), CV_8UC3);
  EXPECT_EQ(c.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(c.at<cv::Vec3b>(0, 4), cv::Vec3b(255, 255, 255));
  for (int i = 0; i < 5; ++i)
    for (int j = i + 1; j < 5; ++j) EXPECT_NE(c.at<cv::Vec3b>(0, i), c.at<cv::Vec3b>(0, j)) << i << " " << j;
  auto p1 = palette_color(1);
  EXPECT_EQ(c.at<cv::Vec3b>(0, 1), cv::Vec3b(p1[0], p1[1], p1[2]));
  EXPECT_EQ(cv::norm(label_to_color(label_mat_to_tensor(lbl)), c, cv::NORM_INF), 0.0);
}
