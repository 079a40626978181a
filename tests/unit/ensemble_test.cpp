// The ensemble: learning on synthetic pairs of three "models" (one informative
// everywhere, one only at high quality, one noise), the renormalised score with
// missing members, monotonicity, fused vectors, the JSON form and its errors,
// input validation, and the FAR threshold.
#include "likeness/match/ensemble.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/match/verification.h"

namespace likeness::match {
namespace {

const std::vector<std::string> kModels = {"A", "B", "C"};

struct Synthetic {
  std::vector<PairEvidence> pairs;
  std::vector<int> labels;
};

// Balanced pairs. Quality q is uniform, or q = u^3 (mostly low) when
// low_quality_common. Cosines, noise sd 0.1:
//   A = 0.15 + 0.25 y          (d' = 2.5 at every quality)
//   B = 0.10 + 0.60 y q        (d' = 6 q: noise at q = 0)
//   C = 0.10                   (noise)
// missing: probability that each similarity is nullopt.
Synthetic synthesize(std::size_t n, unsigned seed, bool low_quality_common = false,
                     double missing = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::uniform_real_distribution<double> uniform;
  Synthetic s;
  for (std::size_t i = 0; i < n; ++i) {
    const int y = static_cast<int>(i % 2);
    const double u = uniform(rng);
    const double q = low_quality_common ? u * u * u : u;
    const double cosines[3] = {0.15 + 0.25 * y + noise(rng), 0.10 + 0.60 * y * q + noise(rng),
                               0.10 + noise(rng)};
    PairEvidence pair;
    pair.quality = static_cast<float>(q);
    for (double c : cosines) {
      if (uniform(rng) < missing) {
        pair.similarity.push_back(std::nullopt);
      } else {
        pair.similarity.push_back(static_cast<float>(c));
      }
    }
    s.pairs.push_back(std::move(pair));
    s.labels.push_back(y);
  }
  return s;
}

// Share of pairs where (probability > 0.5) == same person.
double ensemble_accuracy(const Calibration& cal, const Synthetic& s) {
  std::size_t correct = 0;
  for (std::size_t i = 0; i < s.pairs.size(); ++i) {
    correct += (cal.score(s.pairs[i]).probability > 0.5) == (s.labels[i] == 1);
  }
  return static_cast<double>(correct) / static_cast<double>(s.pairs.size());
}

// A single member at its best threshold chosen on the evaluation data itself
// (optimistic for the member).
double member_accuracy(const Synthetic& s, std::size_t m) {
  std::vector<double> scores;
  for (const PairEvidence& p : s.pairs) scores.push_back(*p.similarity[m]);
  return best_accuracy_threshold(scores, s.labels).accuracy;
}

MemberCalibration member(std::string model, double slope, double intercept, double high, double low,
                         double share, std::size_t dimension = 0) {
  MemberCalibration c;
  c.model = std::move(model);
  c.platt.weights = {slope};
  c.platt.bias = intercept;
  c.cosine_threshold = 0.3;
  c.weight_high = high;
  c.weight_low = low;
  c.fused_vector_weight = share;
  c.dimension = dimension;
  return c;
}

// Three members with known constants (see MissingMemberIsRenormalised).
Calibration hand_made() {
  return Calibration(
      {member("m0", 8.0, -3.0, 1.0, 0.5, 0.5, 4), member("m1", 12.0, -4.0, 2.0, 0.1, 0.3, 8),
       member("m2", 5.0, -1.0, 0.3, 0.7, 0.2, 16)},
      -0.2, 1e-3, 0.9, true, {{"command", "test"}});
}

TEST(EnsembleLearn, WeighsMembersByTheirInformationPerQuality) {
  const Synthetic train = synthesize(4000, 11);
  const Calibration cal = learn_calibration(kModels, train.pairs, train.labels);
  ASSERT_EQ(cal.members().size(), 3u);
  const MemberCalibration &a = cal.members()[0], &b = cal.members()[1], &c = cal.members()[2];
  EXPECT_GT(a.weight_high, 0.2);
  EXPECT_GT(a.weight_low, 0.2);
  EXPECT_LE(c.weight_high, 0.02);
  EXPECT_LE(c.weight_low, 0.02);
  EXPECT_GT(b.weight_high, 0.5);
  EXPECT_LT(b.weight_low, 0.2 * b.weight_high);
  EXPECT_TRUE(cal.quality_adaptive());
  EXPECT_EQ(cal.member_index("B"), std::optional<std::size_t>(1));
  EXPECT_EQ(cal.member_index("D"), std::nullopt);
  // The fused vector leans on the informative members.
  EXPECT_LE(c.fused_vector_weight, 0.01);
  EXPECT_NEAR(a.fused_vector_weight + b.fused_vector_weight + c.fused_vector_weight, 1.0, 1e-12);

  const Synthetic held_out = synthesize(4000, 12);
  const double ensemble = ensemble_accuracy(cal, held_out);
  double best_single = 0.0;
  for (std::size_t m = 0; m < 3; ++m)
    best_single = std::max(best_single, member_accuracy(held_out, m));
  EXPECT_GE(ensemble, best_single + 0.01)
      << "ensemble " << ensemble << ", best member " << best_single;
}

TEST(EnsembleLearn, QualityAdaptiveBeatsFixedWeightsWhereLowQualityIsCommon) {
  const Synthetic train = synthesize(4000, 21);
  LearnOptions fixed_options;
  fixed_options.quality_adaptive = false;
  const Calibration adaptive = learn_calibration(kModels, train.pairs, train.labels);
  const Calibration fixed = learn_calibration(kModels, train.pairs, train.labels, fixed_options);
  EXPECT_FALSE(fixed.quality_adaptive());
  for (const MemberCalibration& m : fixed.members()) EXPECT_EQ(m.weight_low, m.weight_high);

  const Synthetic held_out = synthesize(4000, 22, /*low_quality_common=*/true);
  const double a = ensemble_accuracy(adaptive, held_out), f = ensemble_accuracy(fixed, held_out);
  EXPECT_GE(a, f + 0.005) << "adaptive " << a << ", fixed " << f;
}

TEST(EnsembleScore, MissingMemberIsRenormalised) {
  const Calibration cal = hand_made();
  const double q = 0.25;
  const double c0 = 1.0 * q + 0.5 * (1 - q), c1 = 2.0 * q + 0.1 * (1 - q),
               c2 = 0.3 * q + 0.7 * (1 - q);
  const double l0 = -3.0 + 8.0 * double{0.5f}, l1 = -4.0 + 12.0 * double{0.4f},
               l2 = -1.0 + 5.0 * double{0.3f};

  const EnsembleScore all = cal.score({{0.5f, 0.4f, 0.3f}, 0.25f});
  EXPECT_EQ(all.members_used, 3);
  EXPECT_NEAR(all.log_odds, -0.2 + c0 * l0 + c1 * l1 + c2 * l2, 1e-12);
  EXPECT_NEAR(all.probability, sigmoid(all.log_odds), 1e-15);

  const EnsembleScore partial = cal.score({{0.5f, std::nullopt, 0.3f}, 0.25f});
  EXPECT_EQ(partial.members_used, 2);
  const double r = (c0 + c1 + c2) / (c0 + c2);
  EXPECT_NEAR(partial.log_odds, -0.2 + r * (c0 * l0 + c2 * l2), 1e-12);
  EXPECT_GT(r, 1.0);

  // Nothing known: the bias alone, flagged by members_used == 0.
  const EnsembleScore none = cal.score({{std::nullopt, std::nullopt, std::nullopt}, 0.25f});
  EXPECT_EQ(none.members_used, 0);
  EXPECT_EQ(none.log_odds, -0.2);
  EXPECT_EQ(none.probability, sigmoid(-0.2));

  // Wrong number of similarities, non-finite input.
  EXPECT_THROW(cal.score({{0.5f, 0.4f}, 0.25f}), UsageError);
  EXPECT_THROW(cal.score({{0.5f, NAN, 0.3f}, 0.25f}), UsageError);
  EXPECT_THROW(cal.score({{0.5f, 0.4f, 0.3f}, NAN}), UsageError);
}

TEST(EnsembleScore, AvailableMembersWithoutWeightFallBackToTheirOwnLogOdds) {
  // m1 has weight only at high quality, m2 none at all.
  const Calibration cal(
      {member("m0", 8.0, -3.0, 1.0, 1.0, 0.6), member("m1", 12.0, -4.0, 2.0, 0.0, 0.4),
       member("m2", 5.0, -1.0, 0.0, 0.0, 0.0)},
      -0.2, 1e-3, 0.9, true);
  const double l1 = -4.0 + 12.0 * double{0.4f}, l2 = -1.0 + 5.0 * double{0.3f};
  const EnsembleScore s = cal.score({{std::nullopt, 0.4f, 0.3f}, 0.0f});
  EXPECT_EQ(s.members_used, 2);
  EXPECT_NEAR(s.log_odds, (l1 + l2) / 2, 1e-12);
  EXPECT_FALSE(std::isnan(s.probability));
  // At quality 1 m1 has weight again: the renormalised formula.
  const EnsembleScore high = cal.score({{std::nullopt, 0.4f, 0.3f}, 1.0f});
  EXPECT_NEAR(high.log_odds, -0.2 + (3.0 / 2.0) * 2.0 * l1, 1e-12);
  // Quality outside [0, 1] is clamped.
  EXPECT_EQ(cal.score({{std::nullopt, 0.4f, 0.3f}, 7.0f}).log_odds, high.log_odds);
}

TEST(EnsembleScore, ProbabilityIsBoundedAndMonotoneInEachCosine) {
  const Synthetic train = synthesize(2000, 31);
  const Calibration learned = learn_calibration(kModels, train.pairs, train.labels);
  // Extreme weights saturate the sigmoid: still within [0, 1].
  const Calibration extreme(
      {member("m0", 80.0, -30.0, 10.0, 0.5, 0.5), member("m1", 120.0, -40.0, 20.0, 0.0, 0.3),
       member("m2", 0.0, -1.0, 0.3, 0.7, 0.2)},
      -0.2, 1e-3, 0.9, true);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> cosine(-1.0f, 1.0f);
  std::bernoulli_distribution missing(0.3);
  int checked = 0;
  for (const Calibration* cal : {&learned, &extreme}) {
    for (float q : {0.0f, 0.3f, 1.0f}) {
      for (int trial = 0; trial < 20; ++trial) {
        PairEvidence pair{{cosine(rng), cosine(rng), cosine(rng)}, q};
        for (auto& s : pair.similarity) {
          if (missing(rng)) s = std::nullopt;
        }
        for (std::size_t m = 0; m < 3; ++m) {
          PairEvidence sweep = pair;
          double previous_p = -1.0, previous_z = -INFINITY;
          for (int k = 0; k <= 200; ++k) {
            sweep.similarity[m] = -1.0f + 0.01f * static_cast<float>(k);
            const EnsembleScore s = cal->score(sweep);
            ASSERT_GE(s.probability, 0.0);
            ASSERT_LE(s.probability, 1.0);
            ASSERT_GE(s.probability, previous_p) << "member " << m << " cosine step " << k;
            ASSERT_GE(s.log_odds, previous_z) << "member " << m << " cosine step " << k;
            previous_p = s.probability;
            previous_z = s.log_odds;
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 3 * 20 * 3 * 201);
  EXPECT_EQ(extreme.score({{1.0f, 1.0f, 1.0f}, 1.0f}).probability, 1.0);
}

std::vector<float> random_unit(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  double norm = 0.0;
  for (float& x : v) {
    x = normal(rng);
    norm += double{x} * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += double{a[i]} * b[i];
  return sum;
}

TEST(EnsembleFuse, DotProductIsTheWeightedSumOfCosines) {
  const Calibration cal = hand_made();  // dimensions 4, 8, 16; shares 0.5, 0.3, 0.2
  ASSERT_EQ(cal.fused_dimension(), std::optional<std::size_t>(28));
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::vector<float>> a, b;
    for (std::size_t d : {4u, 8u, 16u}) {
      a.push_back(random_unit(d, rng));
      b.push_back(random_unit(d, rng));
    }
    const std::vector<float> fa = cal.fuse_vectors({a[0], a[1], a[2]});
    const std::vector<float> fb = cal.fuse_vectors({b[0], b[1], b[2]});
    ASSERT_EQ(fa.size(), 28u);
    EXPECT_NEAR(dot(fa, fa), 1.0, 1e-6);
    const double expected = 0.5 * dot(a[0], b[0]) + 0.3 * dot(a[1], b[1]) + 0.2 * dot(a[2], b[2]);
    EXPECT_NEAR(dot(fa, fb), expected, 1e-5);
  }
}

TEST(EnsembleFuse, MissingMemberGivesZerosAndRenormalises) {
  const Calibration cal = hand_made();
  std::mt19937 rng(4);
  const std::vector<float> v0 = random_unit(4, rng), v2 = random_unit(16, rng);
  const std::vector<float> f = cal.fuse_vectors({v0, {}, v2});
  ASSERT_EQ(f.size(), 28u);
  EXPECT_NEAR(dot(f, f), 1.0, 1e-6);
  for (std::size_t i = 4; i < 12; ++i) EXPECT_EQ(f[i], 0.0f) << i;
  const double scale = 1.0 / std::sqrt(0.5 + 0.2);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(f[i], scale * std::sqrt(0.5) * v0[i], 1e-6);
  for (std::size_t i = 0; i < 16; ++i) {
    EXPECT_NEAR(f[12 + i], scale * std::sqrt(0.2) * v2[i], 1e-6);
  }
  // All missing: all zero, not NaN.
  for (float x : cal.fuse_vectors({{}, {}, {}})) EXPECT_EQ(x, 0.0f);
  // Wrong count, wrong length.
  EXPECT_THROW(cal.fuse_vectors({v0, v2}), UsageError);
  EXPECT_THROW(cal.fuse_vectors({v2, {}, v2}), UsageError);
  // A missing member whose dimension is unknown has no place in the layout.
  const Calibration unknown(
      {member("x", 1.0, 0.0, 1.0, 1.0, 0.5), member("y", 1.0, 0.0, 1.0, 1.0, 0.5)}, 0.0, 1e-3, 0.5,
      true);
  EXPECT_EQ(unknown.fused_dimension(), std::nullopt);
  EXPECT_EQ(unknown.fuse_vectors({v0, v0}).size(), 8u);
  EXPECT_THROW(unknown.fuse_vectors({v0, {}}), UsageError);
}

TEST(EnsembleJson, RoundTripsExactly) {
  Synthetic train = synthesize(1000, 41);
  LearnOptions options;
  options.dimensions = {512, 128, 64};
  options.flip_tta = {false, true, false};
  options.alignment_tta = {false, true, true};
  const Calibration learned =
      learn_calibration(kModels, train.pairs, train.labels, options,
                        {{"command", "likeness calibrate"}, {"pairs", 1000}});
  for (const Calibration& cal : {learned, hand_made()}) {
    const nlohmann::json json = cal.to_json();
    const Calibration back = Calibration::from_json(nlohmann::json::parse(json.dump()));
    EXPECT_EQ(back.to_json(), json);
    EXPECT_EQ(back.to_json().dump(), json.dump());
    EXPECT_EQ(back.bias(), cal.bias());
    EXPECT_EQ(back.far_target(), cal.far_target());
    EXPECT_EQ(back.probability_threshold(), cal.probability_threshold());
    EXPECT_EQ(back.provenance(), cal.provenance());
    ASSERT_EQ(back.members().size(), cal.members().size());
    for (std::size_t m = 0; m < cal.members().size(); ++m) {
      const MemberCalibration &x = back.members()[m], &y = cal.members()[m];
      EXPECT_EQ(x.model, y.model);
      EXPECT_EQ(x.platt.weights, y.platt.weights);
      EXPECT_EQ(x.platt.bias, y.platt.bias);
      EXPECT_EQ(x.cosine_threshold, y.cosine_threshold);
      EXPECT_EQ(x.weight_high, y.weight_high);
      EXPECT_EQ(x.weight_low, y.weight_low);
      EXPECT_EQ(x.fused_vector_weight, y.fused_vector_weight);
      EXPECT_EQ(x.dimension, y.dimension);
      EXPECT_EQ(x.flip_tta, y.flip_tta);
      EXPECT_EQ(x.alignment_tta, y.alignment_tta);
    }
  }
  EXPECT_EQ(learned.provenance().at("command"), "likeness calibrate");
  EXPECT_EQ(learned.members()[0].dimension, 512u);
  // The embedders' settings the vectors were made with are recorded.
  EXPECT_EQ(learned.members()[1].flip_tta, std::optional<bool>(true));
  EXPECT_EQ(learned.members()[0].alignment_tta, std::optional<bool>(false));
  EXPECT_EQ(learned.members()[2].alignment_tta, std::optional<bool>(true));
  EXPECT_EQ(hand_made().members()[0].alignment_tta, std::nullopt);
  EXPECT_FALSE(hand_made().to_json()["members"][0].contains("alignment_tta"));
}

// The message of the likeness::Error from_json throws (not a UsageError: the
// JSON comes from a file), or "" when it does not throw.
std::string json_error(const nlohmann::json& json) {
  try {
    Calibration::from_json(json);
  } catch (const UsageError& e) {
    return std::string("unexpected UsageError: ") + e.what();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(EnsembleJson, MalformedJsonThrowsNamingTheField) {
  const nlohmann::json good = hand_made().to_json();
  EXPECT_EQ(json_error(good), "");

  struct Case {
    const char* expected;  // in the message
    nlohmann::json json;
  };
  std::vector<Case> cases;
  cases.push_back({"members[1].cosine_threshold", good});
  cases.back().json["members"][1].erase("cosine_threshold");
  cases.push_back({"members[0].weight_low", good});
  cases.back().json["members"][0]["weight_low"] = -0.5;
  cases.push_back({"format", good});
  cases.back().json["format"] = 2;
  cases.push_back({"format", good});
  cases.back().json.erase("format");
  cases.push_back({"quality_adaptive", good});
  cases.back().json["quality_adaptive"] = "yes";
  cases.push_back({"members[2].platt", good});
  cases.back().json["members"][2]["platt"]["weights"] = {1.0, 2.0};
  cases.push_back({"members[2].platt", good});
  cases.back().json["members"][2]["platt"].erase("bias");
  cases.push_back({"fused_vector_weight", good});
  cases.back().json["members"][2]["fused_vector_weight"] = 0.5;
  cases.push_back({"members[0].dimension", good});
  cases.back().json["members"][0]["dimension"] = -3;
  cases.push_back({"members[1].model", good});
  cases.back().json["members"][1]["model"] = "m0";
  cases.push_back({"bias", good});
  cases.back().json["bias"] = "0.1";
  cases.push_back({"probability_threshold", good});
  cases.back().json["probability_threshold"] = 1.5;
  cases.push_back({"members", good});
  cases.back().json["members"] = nlohmann::json::array();
  cases.push_back({"members[1].alignment_tta", good});
  cases.back().json["members"][1]["alignment_tta"] = "yes";
  cases.push_back({"members[0].flip_tta", good});
  cases.back().json["members"][0]["flip_tta"] = 1;
  cases.push_back({"expected an object", nlohmann::json::array()});
  for (const Case& c : cases) {
    const std::string message = json_error(c.json);
    EXPECT_NE(message.find(c.expected), std::string::npos)
        << "expected \"" << c.expected << "\" in \"" << message << "\"";
    EXPECT_EQ(message.find("UsageError"), std::string::npos) << message;
  }
  // Fixed weights must be equal at both ends.
  nlohmann::json fixed = good;
  fixed["quality_adaptive"] = false;
  EXPECT_NE(json_error(fixed).find("weight_low"), std::string::npos) << json_error(fixed);
}

TEST(EnsembleLearn, RejectsInconsistentInput) {
  const Synthetic s = synthesize(200, 51);
  const auto learn = [](std::vector<std::string> models, std::vector<PairEvidence> pairs,
                        std::vector<int> labels, LearnOptions options = {}) {
    return learn_calibration(models, pairs, labels, options);
  };
  EXPECT_NO_THROW(learn(kModels, s.pairs, s.labels));
  EXPECT_THROW(learn({}, s.pairs, s.labels), UsageError);
  EXPECT_THROW(learn({"A", "B", "A"}, s.pairs, s.labels), UsageError);
  EXPECT_THROW(learn({"A", "B"}, s.pairs, s.labels), UsageError);  // 3 similarities per pair
  EXPECT_THROW(learn(kModels, {}, {}), UsageError);
  {
    std::vector<int> labels = s.labels;
    labels.pop_back();
    EXPECT_THROW(learn(kModels, s.pairs, labels), UsageError);
    labels = s.labels;
    labels[3] = 2;
    EXPECT_THROW(learn(kModels, s.pairs, labels), UsageError);
    EXPECT_THROW(learn(kModels, s.pairs, std::vector<int>(s.labels.size(), 1)), UsageError);
    EXPECT_THROW(learn(kModels, s.pairs, std::vector<int>(s.labels.size(), 0)), UsageError);
  }
  {
    std::vector<PairEvidence> pairs = s.pairs;
    for (PairEvidence& p : pairs) p.similarity[2] = std::nullopt;  // C never ran
    EXPECT_THROW(learn(kModels, pairs, s.labels), UsageError);
    pairs = s.pairs;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (s.labels[i] == 0) pairs[i].similarity[1] = std::nullopt;  // B only on positives
    }
    EXPECT_THROW(learn(kModels, pairs, s.labels), UsageError);
    pairs = s.pairs;
    pairs[5].similarity[0] = NAN;
    EXPECT_THROW(learn(kModels, pairs, s.labels), UsageError);
    pairs = s.pairs;
    pairs[5].quality = INFINITY;
    EXPECT_THROW(learn(kModels, pairs, s.labels), UsageError);
    pairs = s.pairs;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      pairs[i].similarity[i % 3] = std::nullopt;  // no complete pair
    }
    EXPECT_THROW(learn(kModels, pairs, s.labels), UsageError);
  }
  LearnOptions bad;
  bad.far = 1.0;
  EXPECT_THROW(learn(kModels, s.pairs, s.labels, bad), UsageError);
  bad = {};
  bad.dimensions = {512};
  EXPECT_THROW(learn(kModels, s.pairs, s.labels, bad), UsageError);
  bad = {};
  bad.flip_tta = {true};
  EXPECT_THROW(learn(kModels, s.pairs, s.labels, bad), UsageError);
  bad = {};
  bad.alignment_tta = {true, false};
  EXPECT_THROW(learn(kModels, s.pairs, s.labels, bad), UsageError);
  bad = {};
  bad.fit.sample_weights = {1.0, 2.0};
  EXPECT_THROW(learn(kModels, s.pairs, s.labels, bad), UsageError);
}

TEST(EnsembleLearn, ThresholdsHoldTheFarOnTheLearningData) {
  // Some similarities missing, some pairs with none at all.
  const Synthetic s = synthesize(3000, 61, false, /*missing=*/0.15);
  LearnOptions options;
  options.far = 1e-2;
  const Calibration cal = learn_calibration(kModels, s.pairs, s.labels, options);
  EXPECT_EQ(cal.far_target(), 1e-2);

  std::vector<double> negatives;
  for (std::size_t i = 0; i < s.pairs.size(); ++i) {
    const EnsembleScore e = cal.score(s.pairs[i]);
    if (s.labels[i] == 0 && e.members_used > 0) negatives.push_back(e.probability);
  }
  const auto allowed =
      static_cast<std::size_t>(std::floor(1e-2 * static_cast<double>(negatives.size())));
  ASSERT_GE(allowed, 10u);
  const auto accepted =
      static_cast<std::size_t>(std::count_if(negatives.begin(), negatives.end(), [&](double p) {
        return p > cal.probability_threshold();
      }));
  EXPECT_LE(accepted, allowed);
  EXPECT_EQ(accepted, allowed);  // continuous scores: no ties at the threshold

  for (std::size_t m = 0; m < 3; ++m) {
    std::size_t n = 0, over = 0;
    for (std::size_t i = 0; i < s.pairs.size(); ++i) {
      if (s.labels[i] != 0 || !s.pairs[i].similarity[m]) continue;
      ++n;
      over += *s.pairs[i].similarity[m] > cal.members()[m].cosine_threshold;
    }
    EXPECT_LE(over, static_cast<std::size_t>(std::floor(1e-2 * static_cast<double>(n))))
        << kModels[m];
  }
}

}  // namespace
}  // namespace likeness::match
