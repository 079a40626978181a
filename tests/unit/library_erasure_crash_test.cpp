// An erasure killed at any step is finished by the next command. A child
// process erases a person with crash points armed (core/crash_points.h): it
// is killed (SIGKILL, as kill -9) at the n-th of the erasure's steps —
// named ones (before and after the commit, each step of the purge, the index
// rewrite and its file replacements) and every write, sync and truncation
// SQLite makes. Then the parent runs "the next command" (opens the library;
// when the kill came before the commit the erasure had not happened, so the
// user's next command is the erasure again) and scans every file of the
// library folder for the bytes of the erased vectors: none may be left, and
// the library must check clean. The points are spread over the whole erasure.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "likeness/core/crash_points.h"
#include "likeness/library/erasure.h"
#include "likeness/library/library.h"
#include "support/file_scan.h"
#include "support/synthetic_library.h"
#include "support/temp_dir.h"

namespace likeness::library {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kUnlimited = 1'000'000'000;
constexpr int kPointsTried = 24;

struct Scenario {
  fs::path pristine;  // the library before the erasure
  std::int64_t person = 0;
  std::vector<testing::StoredFace> erased, kept;
  LibraryOptions options;
};

Scenario make_scenario(const fs::path& dir, const LibraryOptions& options) {
  Scenario scenario;
  scenario.pristine = dir;
  scenario.options = options;
  testing::SyntheticLibrary lib(dir, 3, 6, options);
  scenario.person = lib.people[1];
  scenario.erased = lib.faces[1];
  for (int p : {0, 2}) {
    for (const auto& f : lib.faces[static_cast<std::size_t>(p)]) scenario.kept.push_back(f);
  }
  return scenario;
}

void copy_library(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

// Runs the erasure in a child armed to die at crash point `crash_at` (or
// never, kUnlimited). Returns the child's wait status; the number of crash
// points the erasure reached is written to `count_file` when it finishes.
int erase_in_child(const Scenario& scenario, const fs::path& dir, std::int64_t crash_at,
                   const fs::path& count_file) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 0;
    try {
      // Armed before the open, so that the catalog's connection counts
      // SQLite's writes; the count starts again at the erasure.
      arm_crash_at(kUnlimited);
      auto lib = Library::open(dir, scenario.options);
      const ErasurePlan plan = plan_person_erasure(lib->catalog(), scenario.person);
      arm_crash_at(crash_at);
      erase(*lib, plan);
      const std::int64_t reached = crash_points_reached();
      lib.reset();
      std::ofstream(count_file) << reached << '\n';
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

// The erasure's crash points, 1..total, and an even spread of them.
std::vector<std::int64_t> points_to_try(const Scenario& scenario, const fs::path& work) {
  const fs::path dir = work / "count";
  const fs::path count_file = work / "count.txt";
  copy_library(scenario.pristine, dir);
  const int status = erase_in_child(scenario, dir, 0, count_file);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  std::int64_t total = 0;
  std::ifstream(count_file) >> total;
  EXPECT_GE(total, kPointsTried) << "an erasure should pass many crash points";
  std::set<std::int64_t> points;
  for (int i = 0; i < kPointsTried && total > 0; ++i) {
    points.insert(1 + (total - 1) * i / std::max(1, kPointsTried - 1));
  }
  std::cout << "[   info   ] the erasure passes " << total << " crash points; killing at";
  for (const std::int64_t point : points) std::cout << ' ' << point;
  std::cout << '\n';
  return {points.begin(), points.end()};
}

// "The next command" after a kill, then what must hold.
void next_command_leaves_nothing(const Scenario& scenario, const fs::path& dir, std::int64_t point,
                                 bool scan_bytes) {
  {
    auto lib = Library::open(dir, scenario.options);
    if (lib->catalog().find_person(scenario.person)) {
      // Killed before the commit: nothing was erased, and the user, told
      // that the erasure failed, runs it again.
      for (const auto& f : scenario.erased) {
        ASSERT_TRUE(lib->catalog().find_face(f.id)) << "crash point " << point;
      }
      erase(*lib, plan_person_erasure(lib->catalog(), scenario.person));
    }
    const LibraryCheck check = lib->check();
    EXPECT_TRUE(check.ok()) << "crash point " << point << ": " << check.problems.front();
    EXPECT_FALSE(check.erasure_pending) << "crash point " << point;
    EXPECT_EQ(check.index_entries, static_cast<std::int64_t>(scenario.kept.size()))
        << "crash point " << point;
    for (const auto& f : scenario.erased) {
      EXPECT_FALSE(lib->catalog().find_face(f.id)) << "crash point " << point;
    }
  }
  if (!scan_bytes) return;
  const testing::FileContents files = testing::read_all_files(dir);
  for (const auto& f : scenario.erased) {
    for (const auto* v : {&f.fused, &f.model_a, &f.model_b}) {
      const std::vector<fs::path> found = testing::files_holding(files, *v);
      EXPECT_TRUE(found.empty()) << "crash point " << point << ": erased face " << f.id
                                 << " still in " << found.front();
    }
  }
  // The scan sees vectors: the kept faces' are there.
  for (const auto& f : scenario.kept) {
    EXPECT_FALSE(testing::files_holding(files, f.fused).empty())
        << "crash point " << point << ": kept face " << f.id;
  }
}

void kill_at_each_point(const Scenario& scenario, const fs::path& work, bool scan_bytes) {
  const std::vector<std::int64_t> points = points_to_try(scenario, work);
  ASSERT_GE(points.size(), 20u);
  int kills = 0;
  for (const std::int64_t point : points) {
    const fs::path dir = work / ("at_" + std::to_string(point));
    copy_library(scenario.pristine, dir);
    const int status = erase_in_child(scenario, dir, point, work / "unused.txt");
    ASSERT_TRUE(killed(status)) << "crash point " << point << " was not reached (status " << status
                                << ")";
    ++kills;
    next_command_leaves_nothing(scenario, dir, point, scan_bytes);
    fs::remove_all(dir);
  }
  EXPECT_EQ(kills, static_cast<int>(points.size()));
}

TEST(LibraryErasureCrash, KilledAnywhereTheNextCommandFinishesTheErasure) {
  const testing::TempDir temp("erasure_crash");
  const Scenario scenario = make_scenario(temp.path() / "pristine", {});
  kill_at_each_point(scenario, temp.path(), true);
}

// The same with an encrypted library (its index sealed): the bytes are
// ciphertext, so what is checked is that the erased faces are gone from the
// catalog and the index, and nothing is left pending.
TEST(LibraryErasureCrash, EncryptedLibraryToo) {
  const testing::TempDir temp("erasure_crash_encrypted");
  LibraryOptions options;
  options.passphrase = "correct horse battery staple";
  options.encrypt_if_created = true;
  Scenario scenario = make_scenario(temp.path() / "pristine", options);
  scenario.options.encrypt_if_created = false;
  kill_at_each_point(scenario, temp.path(), false);
}

// Without the finishing step, a kill after the commit leaves erased vectors
// behind: the control that shows the test above can fail.
TEST(LibraryErasureCrash, ControlWithoutFinishingLeavesVectorsBehind) {
  const testing::TempDir temp("erasure_crash_control");
  const Scenario scenario = make_scenario(temp.path() / "pristine", {});
  const fs::path dir = temp.path() / "killed";
  copy_library(scenario.pristine, dir);
  // Point 2 of the named ones: right after the commit (the first is the
  // last step inside the transaction); count SQLite's writes of the commit
  // by finding the first point at which the person is gone.
  std::int64_t after_commit = 0;
  for (std::int64_t point = 1; point < 400 && after_commit == 0; ++point) {
    copy_library(scenario.pristine, dir);
    ASSERT_TRUE(killed(erase_in_child(scenario, dir, point, temp.path() / "unused.txt")));
    auto lib = Library::open(dir, {.finish_interrupted_work = false});
    if (!lib->catalog().find_person(scenario.person)) after_commit = point;
  }
  ASSERT_GT(after_commit, 0);
  {
    auto lib = Library::open(dir, {.finish_interrupted_work = false});
    const LibraryCheck check = lib->check();
    EXPECT_TRUE(check.erasure_pending);
    EXPECT_FALSE(check.ok());
  }
  const testing::FileContents files = testing::read_all_files(dir);
  std::size_t still_found = 0;
  for (const auto& f : scenario.erased)
    still_found += !testing::files_holding(files, f.fused).empty();
  EXPECT_GT(still_found, 0u) << "the control found nothing: the test would prove nothing";
  // And the next ordinary open finishes it.
  Library::open(dir).reset();
  const testing::FileContents after = testing::read_all_files(dir);
  for (const auto& f : scenario.erased) {
    EXPECT_TRUE(testing::files_holding(after, f.fused).empty()) << "face " << f.id;
  }
}

}  // namespace
}  // namespace likeness::library
