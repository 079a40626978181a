// Grouping faces into people (library/clustering.h) on hand-made vectors: each
// rule has a case that breaks without it. The scorer is a sigmoid of the
// fused vectors' inner product, so no model is needed (one test checks the
// Recognizer overloads and skips without the models).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "likeness/core/error.h"
#include "likeness/library/clustering.h"
#include "likeness/match/embedded_calibration.h"

namespace likeness::library {
namespace {

constexpr ClusterMethod kMethods[] = {
    ClusterMethod::kAverageLinkage, ClusterMethod::kChineseWhispers, ClusterMethod::kSingleLinkage};

float dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// P(same) = sigmoid(40 (dot - 0.8)): ~1 for alike vectors, ~0 below ~0.7.
std::optional<double> scorer(const match::FaceDescription& a, const match::FaceDescription& b) {
  return 1.0 / (1.0 + std::exp(-40.0 * (dot(a.fused, b.fused) - 0.8)));
}

match::FaceDescription face(std::vector<float> v, bool searchable = true) {
  float norm = 0.0f;
  for (const float x : v) norm += x * x;
  for (float& x : v) x /= std::sqrt(norm);
  match::FaceDescription d;
  d.fused = std::move(v);
  d.searchable = searchable;
  d.quality.overall = searchable ? 0.8f : 0.05f;
  return d;
}

// A face at `degrees` on the unit circle of the first two axes (4-d vectors).
match::FaceDescription at_angle(double degrees) {
  const double r = degrees * std::numbers::pi / 180.0;
  return face({static_cast<float>(std::cos(r)), static_cast<float>(std::sin(r)), 0.0f, 0.0f});
}

// One photo per face.
ClusterConstraints own_photos(std::size_t n) {
  ClusterConstraints c;
  for (std::size_t i = 0; i < n; ++i) c.photo_of_face.push_back(static_cast<std::int64_t>(i));
  return c;
}

SimilarityGraph graph_of(const std::vector<match::FaceDescription>& faces) {
  return build_similarity_graph(faces, scorer);
}

bool together(const Clustering& c, std::size_t a, std::size_t b) {
  return c.cluster_of_face[a] != kUnclustered && c.cluster_of_face[a] == c.cluster_of_face[b];
}

// `people` people of `per_person` faces each: their own axis plus noise.
std::vector<match::FaceDescription> people(int count, int per_person, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.08f);
  std::vector<match::FaceDescription> out;
  for (int p = 0; p < count; ++p) {
    for (int i = 0; i < per_person; ++i) {
      std::vector<float> v(static_cast<std::size_t>(count) + 4);
      for (auto& x : v) x = noise(rng);
      v[static_cast<std::size_t>(p)] += 1.0f;
      out.push_back(face(v));
    }
  }
  return out;
}

TEST(ClusteringGraph, ScoresNeighboursAndLeavesOutPoorFaces) {
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(5), face({0, 0, 1, 0}),
                                                  face({1, 0, 0, 0}, false),
                                                  match::FaceDescription{}};
  const auto graph = graph_of(faces);
  EXPECT_EQ(graph.face_count, 5u);
  EXPECT_EQ(graph.in_graph, (std::vector<bool>{true, true, true, false, false}));
  ASSERT_EQ(graph.edges.size(), 3u);  // every pair of the three usable faces
  EXPECT_EQ(graph.edges[0].a, 0u);
  EXPECT_EQ(graph.edges[0].b, 1u);
  EXPECT_GT(graph.edges[0].probability, 0.99f);
  EXPECT_LT(graph.edges[1].probability, 0.01f);  // 0-2: orthogonal
  for (const auto& e : graph.edges) EXPECT_LT(e.a, e.b);
}

TEST(ClusteringGraph, IndexFindsTheSameNeighboursAsTheExactSearch) {
  const auto faces = people(6, 10, 3);
  const auto exact = build_similarity_graph(faces, scorer, {.neighbours = 5});
  const auto approximate =
      build_similarity_graph(faces, scorer, {.neighbours = 5, .exact_up_to = 0});
  ASSERT_EQ(exact.edges.size(), approximate.edges.size());
  for (std::size_t i = 0; i < exact.edges.size(); ++i) {
    EXPECT_EQ(exact.edges[i].a, approximate.edges[i].a);
    EXPECT_EQ(exact.edges[i].b, approximate.edges[i].b);
  }
  // k = 5 of 59 others: a sparse graph, not all pairs.
  EXPECT_LT(exact.edges.size(), 60u * 5u);
}

TEST(ClusteringGraph, FusedVectorsOfDifferentLengthsAreMisuse) {
  const std::vector<match::FaceDescription> faces{face({1, 0}), face({1, 0, 0})};
  EXPECT_THROW(graph_of(faces), UsageError);
}

TEST(Clustering, GroupsWellSeparatedPeopleExactly) {
  const auto faces = people(5, 8, 1);
  const auto graph = graph_of(faces);
  for (const auto method : kMethods) {
    const auto c = cluster_faces(graph, own_photos(faces.size()), {.method = method});
    EXPECT_EQ(c.cluster_count(), 5);
    for (std::size_t i = 0; i < faces.size(); ++i) {
      EXPECT_TRUE(together(c, i, i / 8 * 8)) << "face " << i;
      if (i >= 8) {
        EXPECT_FALSE(together(c, i, 0)) << "face " << i;
      }
    }
    EXPECT_EQ(c.person_of_cluster, std::vector<std::int64_t>(5, kNoPerson));
  }
}

TEST(Clustering, TwoFacesOfOnePhotoAreNeverTogether) {
  // Three alike faces; 0 and 1 are in one photo.
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(1), at_angle(2)};
  const auto graph = graph_of(faces);
  ClusterConstraints rules = own_photos(3);
  for (const auto method : kMethods) {
    const auto apart = cluster_faces(graph, rules, {.method = method});
    EXPECT_TRUE(together(apart, 0, 1)) << "without the rule they are one person";
  }
  rules.photo_of_face = {7, 7, 8};
  for (const auto method : kMethods) {
    const auto c = cluster_faces(graph, rules, {.method = method});
    EXPECT_FALSE(together(c, 0, 1));
    EXPECT_EQ(c.cluster_count(), 1);
    EXPECT_TRUE(together(c, 2, 0) || together(c, 2, 1));
  }
}

TEST(Clustering, FacesPinnedToOnePersonStayTogether) {
  // 0 and 2 look nothing alike (and 2 is a poor face), but the user said
  // both are person 42; 1 resembles 0.
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(3),
                                                  face({0, 0, 1, 0}, false), face({0, 0, 0, 1})};
  const auto graph = graph_of(faces);
  ClusterConstraints rules = own_photos(4);
  rules.pinned_person = {42, kNoPerson, 42, kNoPerson};
  for (const auto method : kMethods) {
    const auto c = cluster_faces(graph, rules, {.method = method});
    EXPECT_TRUE(together(c, 0, 2));
    EXPECT_TRUE(together(c, 0, 1));
    EXPECT_EQ(c.cluster_of_face[3], kUnclustered);
    ASSERT_EQ(c.cluster_count(), 1);
    EXPECT_EQ(c.person_of_cluster[0], 42);
  }
}

TEST(Clustering, FacesPinnedToDifferentPeopleNeverMeet) {
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(1), at_angle(2)};
  const auto graph = graph_of(faces);
  ClusterConstraints rules = own_photos(3);
  rules.pinned_person = {1, 2, kNoPerson};
  for (const auto method : kMethods) {
    const auto c = cluster_faces(graph, rules, {.method = method});
    EXPECT_FALSE(together(c, 0, 1));
    EXPECT_EQ(c.cluster_count(), 2);  // pinned faces are reported even alone
    EXPECT_TRUE(together(c, 2, 0) != together(c, 2, 1));
    EXPECT_NE(c.person_of_cluster[0], c.person_of_cluster[1]);
  }
}

TEST(Clustering, RejectedFaceStaysOutOfThePerson) {
  // 0 is confirmed as person 5; 1 and 2 look like 0; the user said 1 is not 5.
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(3), at_angle(1)};
  const auto graph = graph_of(faces);
  ClusterConstraints rules = own_photos(3);
  rules.pinned_person = {5, kNoPerson, kNoPerson};
  for (const auto method : kMethods) {
    EXPECT_TRUE(together(cluster_faces(graph, rules, {.method = method}), 0, 1));
  }
  rules.rejections = {{.face = 1, .person = 5}};
  for (const auto method : kMethods) {
    const auto c = cluster_faces(graph, rules, {.method = method});
    EXPECT_FALSE(together(c, 0, 1));
    EXPECT_TRUE(together(c, 0, 2));
  }
}

TEST(Clustering, LowQualityFacesAreLeftOut) {
  std::vector<match::FaceDescription> faces{at_angle(0), at_angle(1), at_angle(2)};
  faces[1].searchable = false;
  const auto graph = graph_of(faces);
  for (const auto method : kMethods) {
    const auto c = cluster_faces(graph, own_photos(3), {.method = method});
    EXPECT_EQ(c.cluster_of_face[1], kUnclustered);
    EXPECT_TRUE(together(c, 0, 2));
  }
}

TEST(Clustering, SmallClustersAreNotReported) {
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(1), face({0, 0, 1, 0})};
  const auto graph = graph_of(faces);
  const auto pairs = cluster_faces(graph, own_photos(3));
  EXPECT_EQ(pairs.cluster_of_face, (std::vector<int>{0, 0, kUnclustered}));
  const auto all = cluster_faces(graph, own_photos(3), {.min_cluster_size = 1});
  EXPECT_EQ(all.cluster_of_face, (std::vector<int>{0, 0, 1}));
  const auto none = cluster_faces(graph, own_photos(3), {.min_cluster_size = 3});
  EXPECT_EQ(none.cluster_count(), 0);
}

TEST(Clustering, AverageLinkageDoesNotChain) {
  // A chain 0-1-2-3-4, 25 degrees apart: neighbours alike (p ~0.99), two
  // steps apart not (p ~0.002). Single linkage joins the whole chain.
  std::vector<match::FaceDescription> faces;
  for (int i = 0; i < 5; ++i) faces.push_back(at_angle(25.0 * i));
  const auto graph = graph_of(faces);
  const auto single = cluster_faces(graph, own_photos(5),
                                    {.method = ClusterMethod::kSingleLinkage, .threshold = 0.7});
  EXPECT_TRUE(together(single, 0, 4));
  const auto average = cluster_faces(graph, own_photos(5),
                                     {.method = ClusterMethod::kAverageLinkage, .threshold = 0.7});
  EXPECT_FALSE(together(average, 0, 2));
  EXPECT_FALSE(together(average, 2, 4));
}

TEST(Clustering, SameInputSameOutput) {
  // Some faces between two people (p ~0.4 with the first) and a photo rule,
  // so that the order of decisions matters.
  auto faces = people(6, 12, 9);
  for (std::size_t i = 0; i < 12; i += 3) faces[i] = face({0.8f, 0.6f, 0, 0, 0, 0, 0, 0, 0, 0});
  const auto graph = graph_of(faces);
  ClusterConstraints rules = own_photos(faces.size());
  rules.photo_of_face[5] = rules.photo_of_face[20];
  for (const auto method : kMethods) {
    const auto first = cluster_faces(graph, rules, {.method = method});
    for (int run = 0; run < 3; ++run) {
      const auto again = cluster_faces(graph_of(faces), rules, {.method = method});
      EXPECT_EQ(again.cluster_of_face, first.cluster_of_face);
      EXPECT_EQ(again.person_of_cluster, first.person_of_cluster);
    }
  }
}

TEST(Clustering, ChecksItsInput) {
  const std::vector<match::FaceDescription> faces{at_angle(0), at_angle(1)};
  const auto graph = graph_of(faces);
  EXPECT_THROW(cluster_faces(graph, own_photos(3)), UsageError);
  ClusterConstraints rules = own_photos(2);
  rules.pinned_person = {1};
  EXPECT_THROW(cluster_faces(graph, rules), UsageError);
  rules.pinned_person = {1, kNoPerson};
  rules.rejections = {{.face = 0, .person = 1}};
  EXPECT_THROW(cluster_faces(graph, rules), UsageError);
  rules.rejections = {{.face = 2, .person = 3}};
  EXPECT_THROW(cluster_faces(graph, rules), UsageError);
  EXPECT_THROW(cluster_faces(graph, own_photos(2), {.threshold = 1.5}), UsageError);
}

// People 10 (faces 0-2, around 0 degrees) and 20 (faces 3-5, around 90).
struct Library {
  std::vector<match::FaceDescription> faces{at_angle(0),  at_angle(3),  at_angle(-3),
                                            at_angle(90), at_angle(93), at_angle(87)};
  std::vector<std::int64_t> person{10, 10, 10, 20, 20, 20};
  ClusterConstraints rules = own_photos(6);

  std::size_t add(match::FaceDescription f, std::int64_t photo) {
    faces.push_back(std::move(f));
    person.push_back(kNoPerson);
    rules.photo_of_face.push_back(photo);
    return faces.size() - 1;
  }
  std::vector<Assignment> assign(const std::vector<std::size_t>& new_faces) const {
    return assign_new_faces(faces, person, new_faces, rules, scorer);
  }
};

TEST(ClusteringAssign, NewFaceJoinsTheConfidentPersonOnly) {
  Library lib;
  const auto like_10 = lib.add(at_angle(1), 100);
  const auto between = lib.add(at_angle(45), 101);  // p ~0 for both
  const auto stranger = lib.add(face({0, 0, 1, 0}), 102);
  const auto poor = lib.add(at_angle(2), 103);
  lib.faces[poor].searchable = false;
  const auto joined = lib.assign({like_10, between, stranger, poor});
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].face, like_10);
  EXPECT_EQ(joined[0].person, 10);
  EXPECT_GT(joined[0].score, 0.9);
}

TEST(ClusteringAssign, AmbiguousFaceWaits) {
  // Person 30 looks like person 10: a face near both joins neither.
  Library lib;
  lib.add(at_angle(6), 50);
  lib.person.back() = 30;
  const auto ambiguous = lib.add(at_angle(3), 104);
  EXPECT_TRUE(lib.assign({ambiguous}).empty());
  // Without the margin it joins the better one.
  const auto joined = assign_new_faces(lib.faces, lib.person, std::vector<std::size_t>{ambiguous},
                                       lib.rules, scorer, {.margin = 0.0});
  ASSERT_EQ(joined.size(), 1u);
}

TEST(ClusteringAssign, PhotoRuleAndRejectionsHold) {
  Library lib;
  const auto same_photo_as_0 = lib.add(at_angle(1), 0);
  const auto rejected = lib.add(at_angle(-1), 105);
  lib.rules.rejections = {{.face = rejected, .person = 10}};
  // Two new faces of one photo, both like person 20: only the closer joins.
  const auto closer = lib.add(at_angle(90), 106);
  const auto farther = lib.add(at_angle(96), 106);
  const auto joined = lib.assign({same_photo_as_0, rejected, farther, closer});
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].face, closer);
  EXPECT_EQ(joined[0].person, 20);
}

TEST(ClusteringAssign, ExistingFacesAreNotNewFaces) {
  Library lib;
  lib.add(at_angle(1), 100);
  EXPECT_THROW(lib.assign({0}), UsageError);  // already person 10
  EXPECT_THROW(lib.assign({6, 6}), UsageError);
  EXPECT_THROW(lib.assign({7}), UsageError);
}

TEST(ClusteringRecognizer, OverloadsScoreWithTheCalibratedEnsemble) {
  const auto store = infer::ModelStore::open();
  std::unique_ptr<match::Recognizer> recognizer;
  try {
    recognizer = match::Recognizer::create(store);
  } catch (const ModelError&) {
    GTEST_SKIP() << "no recognition model installed (scripts/setup.sh models)";
  }
  // Hand-made member vectors: faces 0 and 1 share every member's vector
  // direction, face 2 is another direction.
  const auto& cal = recognizer->calibration();
  std::vector<match::FaceDescription> faces(3);
  for (std::size_t f = 0; f < faces.size(); ++f) {
    std::vector<std::span<const float>> parts;
    for (const auto& m : cal.members()) {
      std::vector<float> v(m.dimension, 0.0f);
      v[f == 2 ? 1 : 0] = 1.0f;
      if (f == 1) {
        v[0] = 0.99875f;  // unit length with the 0.05: cosine 0.99875 with face 0
        v[2] = 0.05f;
      }
      faces[f].member_vectors.push_back(v);
    }
    for (const auto& v : faces[f].member_vectors) parts.emplace_back(v);
    faces[f].fused = cal.fuse_vectors(parts);
    faces[f].quality.overall = 0.9f;
    faces[f].searchable = true;
  }
  const auto graph = build_similarity_graph(faces, *recognizer);
  ASSERT_EQ(graph.edges.size(), 3u);
  EXPECT_FLOAT_EQ(graph.edges[0].probability,
                  static_cast<float>(recognizer->compare(faces[0], faces[1]).probability));
  const auto c = cluster_faces(graph, own_photos(3));
  EXPECT_EQ(c.cluster_of_face, (std::vector<int>{0, 0, kUnclustered}));

  const std::vector<std::int64_t> person{7, kNoPerson, kNoPerson};
  const auto joined =
      assign_new_faces(faces, person, std::vector<std::size_t>{1, 2}, own_photos(3), *recognizer);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].face, 1u);
  EXPECT_EQ(joined[0].person, 7);
}

}  // namespace
}  // namespace likeness::library
