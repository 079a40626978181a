// Face attributes without models: SSR-Net's stagewise decoding, the softmax,
// the stored JSON, and a person's age progression from stored attributes.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "likeness/attributes/attributes.h"
#include "likeness/library/person_attributes.h"

namespace likeness {
namespace {

using attributes::SsrNetOutputs;

SsrNetOutputs one_hot_stages(std::size_t bin) {
  SsrNetOutputs out;
  for (auto& stage : out.stage_probabilities) stage[bin] = 1.0f;
  return out;
}

TEST(AttributesDecode, SsrNetAllMassInFirstBinsIsZero) {
  EXPECT_DOUBLE_EQ(attributes::decode_ssrnet(one_hot_stages(0), 101.0), 0.0);
}

TEST(AttributesDecode, SsrNetStagesRefineByOneThirdEach) {
  // Bin 2 everywhere, no shifts: 2/3 + 2/9 + 2/27 = 26/27 of the range.
  EXPECT_NEAR(attributes::decode_ssrnet(one_hot_stages(2), 101.0), 101.0 * 26.0 / 27.0, 1e-9);
  // Only stage 1 in its middle bin: 1/3 of the range (later stages at bin 0).
  SsrNetOutputs middle;
  middle.stage_probabilities = {{{0, 1, 0}, {1, 0, 0}, {1, 0, 0}}};
  EXPECT_NEAR(attributes::decode_ssrnet(middle, 101.0), 101.0 / 3.0, 1e-9);
}

TEST(AttributesDecode, SsrNetDeltaWidensAndOffsetShiftsTheBins) {
  SsrNetOutputs out;
  out.stage_probabilities = {{{0, 1, 0}, {1, 0, 0}, {1, 0, 0}}};
  out.delta_k = {0.5f, 0.0f, 0.0f};
  // Stage 1 bins are 1.5x wider: 1 / (3 * 1.5).
  EXPECT_NEAR(attributes::decode_ssrnet(out, 1.0), 1.0 / 4.5, 1e-6);
  out.delta_k = {0.0f, 0.0f, 0.0f};
  out.index_offsets[0] = {0.0f, 0.25f, 0.0f};
  // The middle bin's index moves from 1 to 1.25.
  EXPECT_NEAR(attributes::decode_ssrnet(out, 1.0), 1.25 / 3.0, 1e-6);
  // lambda_local scales the offset, lambda_d the width change.
  EXPECT_NEAR(attributes::decode_ssrnet(out, 1.0, /*lambda_local=*/2.0), 1.5 / 3.0, 1e-6);
}

TEST(AttributesDecode, SsrNetMatchesTheSumWithMixedProbabilities) {
  SsrNetOutputs out;
  out.stage_probabilities = {{{0.2f, 0.5f, 0.3f}, {0.1f, 0.6f, 0.3f}, {0.3f, 0.3f, 0.4f}}};
  out.delta_k = {0.1f, -0.2f, 0.05f};
  out.index_offsets = {{{0.1f, -0.1f, 0.2f}, {0.0f, 0.3f, -0.3f}, {0.2f, 0.2f, 0.2f}}};
  // Written out by hand from the paper's formula.
  const double w1 = 3 * 1.1, w2 = w1 * 3 * 0.8, w3 = w2 * 3 * 1.05;
  const double a = (0 + 0.1) * 0.2 + (1 - 0.1) * 0.5 + (2 + 0.2) * 0.3;
  const double b = (0 + 0.0) * 0.1 + (1 + 0.3) * 0.6 + (2 - 0.3) * 0.3;
  const double c = (0 + 0.2) * 0.3 + (1 + 0.2) * 0.3 + (2 + 0.2) * 0.4;
  EXPECT_NEAR(attributes::decode_ssrnet(out, 101.0), 101.0 * (a / w1 + b / w2 + c / w3), 1e-4);
}

TEST(AttributesDecode, SoftmaxIsStableAndSumsToOne) {
  const std::vector<float> logits{1000.0f, 1001.0f, 999.0f};
  const std::vector<float> p = attributes::softmax(logits);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-6);
  EXPECT_NEAR(p[1] / p[0], std::exp(1.0), 1e-4);
  EXPECT_GT(p[0], p[2]);
  EXPECT_TRUE(attributes::softmax(std::vector<float>{}).empty());
}

attributes::FaceAttributes sample_attributes() {
  attributes::FaceAttributes a;
  a.age = attributes::AgeEstimate{34.24f, 26.0f, 42.0f};
  a.gender = attributes::GenderEstimate{"female", 0.93f};
  attributes::EmotionEstimate e;
  e.probabilities = {0.01f, 0.0f, 0.02f, 0.81f, 0.03f, 0.05f, 0.08f};
  e.label = "happy";
  a.emotion = e;
  a.models = {{"age", "age_ssrnet"}, {"gender", "gender_ssrnet"}, {"emotion", "x"}};
  return a;
}

TEST(AttributesJson, HasTheShapeTheWebPageReads) {
  const nlohmann::json j = attributes::to_json(sample_attributes());
  EXPECT_NEAR(j.at("age").at("years").get<double>(), 34.2, 1e-9);
  EXPECT_EQ(j.at("age").at("low").get<double>(), 26.0);
  EXPECT_EQ(j.at("age").at("high").get<double>(), 42.0);
  EXPECT_EQ(j.at("gender").at("label"), "female");
  EXPECT_NEAR(j.at("gender").at("probability").get<double>(), 0.93, 1e-9);
  EXPECT_EQ(j.at("emotion").at("label"), "happy");
  const auto& p = j.at("emotion").at("probabilities");
  EXPECT_EQ(p.size(), 7u);
  for (std::string_view label : attributes::kEmotionLabels) {
    EXPECT_TRUE(p.contains(std::string(label))) << label;
  }
  EXPECT_NEAR(p.at("happy").get<double>(), 0.81, 1e-9);
  EXPECT_EQ(j.at("model").at("age"), "age_ssrnet");
  // Only the four documented keys: nothing sensitive without the opt-in
  // (attributes_sensitive_test.cpp).
  EXPECT_EQ(j.size(), 4u);
}

TEST(AttributesJson, AbsentAttributesAreAbsentKeys) {
  attributes::FaceAttributes a;
  a.age = attributes::AgeEstimate{50.0f, 42.0f, 58.0f};
  const nlohmann::json j = attributes::to_json(a);
  EXPECT_TRUE(j.contains("age"));
  EXPECT_FALSE(j.contains("gender"));
  EXPECT_FALSE(j.contains("emotion"));
  EXPECT_FALSE(j.contains("model"));
  EXPECT_EQ(attributes::to_json(attributes::FaceAttributes{}).dump(), "{}");
}

TEST(AttributesJson, ParsesWhatItWrites) {
  const auto parsed = attributes::parse_attributes(attributes::to_json(sample_attributes()).dump());
  ASSERT_TRUE(parsed.has_value());
  ASSERT_TRUE(parsed->age && parsed->gender && parsed->emotion);
  EXPECT_NEAR(parsed->age->years, 34.2f, 1e-4);
  EXPECT_EQ(parsed->gender->label, "female");
  EXPECT_EQ(parsed->emotion->label, "happy");
  EXPECT_NEAR(parsed->emotion->probabilities[3], 0.81f, 1e-6);
  EXPECT_EQ(parsed->models.at("gender"), "gender_ssrnet");
  EXPECT_FALSE(attributes::parse_attributes("").has_value());
  EXPECT_FALSE(attributes::parse_attributes("not json").has_value());
  EXPECT_FALSE(attributes::parse_attributes("[1, 2]").has_value());
}

library::PersonFace face_at(std::optional<std::string> capture_time, std::optional<float> age,
                            std::string expression) {
  library::PersonFace f;
  f.photo.capture_time = std::move(capture_time);
  attributes::FaceAttributes a;
  if (age) a.age = attributes::AgeEstimate{*age, *age - 8, *age + 8};
  if (!expression.empty()) {
    attributes::EmotionEstimate e;
    e.label = expression;
    a.emotion = e;
  }
  f.face.attributes = a.empty() ? "" : attributes::to_json(a).dump();
  return f;
}

TEST(PersonAttributes, MedianAgePerCaptureYearAndMostFrequentExpression) {
  const std::vector<library::PersonFace> faces = {
      face_at("2010:05:01 10:00:00", 30, "happy"),
      face_at("2010:07:01 10:00:00", 34, "neutral"),
      face_at("2010:08:01 10:00:00", 50, "happy"),
      face_at("2015:01:01 10:00:00", 41, "happy"),
      face_at(std::nullopt, 99, "neutral"),
      face_at("0000:00:00 00:00:00", 1, "sad"),
      face_at("2012:01:01 10:00:00", std::nullopt, ""),
  };
  const library::PersonAttributes a = library::summarize_person_attributes(faces);
  EXPECT_EQ(a.faces, 7u);
  EXPECT_EQ(a.faces_with_attributes, 6u);  // the last one was indexed without analytics
  ASSERT_EQ(a.age_by_year.size(), 2u);     // undated and 0000 photos left out
  EXPECT_EQ(a.age_by_year[0].year, 2010);
  EXPECT_DOUBLE_EQ(a.age_by_year[0].median_age, 34.0);
  EXPECT_EQ(a.age_by_year[0].faces, 3u);
  EXPECT_EQ(a.age_by_year[1].year, 2015);
  EXPECT_DOUBLE_EQ(a.age_by_year[1].median_age, 41.0);
  ASSERT_TRUE(a.age_change_per_year.has_value());
  EXPECT_DOUBLE_EQ(*a.age_change_per_year, 7.0 / 5.0);
  ASSERT_TRUE(a.median_age.has_value());
  EXPECT_DOUBLE_EQ(*a.median_age, (34.0 + 41.0) / 2.0);  // 1 30 34 41 50 99
  EXPECT_EQ(a.most_frequent_expression, "happy");
  EXPECT_EQ(a.expression_counts.at("happy"), 3u);
}

TEST(PersonAttributes, NoAttributesGiveAnEmptySummary) {
  const std::vector<library::PersonFace> faces = {face_at("2010:05:01 10:00:00", {}, "")};
  const library::PersonAttributes a = library::summarize_person_attributes(faces);
  EXPECT_EQ(a.faces, 1u);
  EXPECT_EQ(a.faces_with_attributes, 0u);
  EXPECT_FALSE(a.median_age.has_value());
  EXPECT_TRUE(a.age_by_year.empty());
  EXPECT_FALSE(a.age_change_per_year.has_value());
  EXPECT_EQ(a.most_frequent_expression, "");
}

TEST(PersonAttributes, CaptureYear) {
  EXPECT_EQ(library::capture_year("2019:06:01 12:00:00"), 2019);
  EXPECT_EQ(library::capture_year("2019-06-01T12:00:00"), 2019);
  EXPECT_FALSE(library::capture_year("0000:00:00 00:00:00").has_value());
  EXPECT_FALSE(library::capture_year("20").has_value());
  EXPECT_FALSE(library::capture_year("abcd").has_value());
}

}  // namespace
}  // namespace likeness
