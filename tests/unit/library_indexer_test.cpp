// The photo library end to end: Indexer runs over small folders of LFW photos
// built at run time (new, unchanged, changed, touched, vanished and bad files,
// a stop), the Library's vector index kept in step with the catalog or
// repaired, search_face on the result, default_library_dir(), and the people
// edits. Tests that index need the models (scripts/setup.sh models) and LFW.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/io/hash.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library.h"
#include "likeness/library/people.h"
#include "likeness/library/search.h"
#include "likeness/match/embedded_calibration.h"
#include "support/bad_inputs.h"
#include "support/models.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness::library {
namespace {

namespace fs = std::filesystem;
using store::LinkOrigin;
using store::PhotoStatus;

fs::path lfw_image(const std::string& name, int index) {
  char file[16];
  std::snprintf(file, sizeof file, "_%04d.jpg", index);
  return testing::datasets_dir() / "lfw" / "images" / name / (name + file);
}

// The copy is the owner's to overwrite (the dataset's files are read-only,
// and only root writes to a read-only file anyway).
void copy_photo(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  std::error_code ignored;
  fs::remove(to, ignored);
  fs::copy_file(from, to);
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
}

std::vector<std::uint8_t> file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, const std::vector<std::uint8_t>& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(out.good()) << "cannot write " << file;
}

// Moves the file's modification time `seconds` on (whole seconds: the
// catalog keeps seconds).
void shift_mtime(const fs::path& file, int seconds) {
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(seconds));
}

// st_mtime, as the catalog records it.
std::int64_t mtime_seconds(const fs::path& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
  return static_cast<std::int64_t>(st.st_mtime);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

IndexRunOptions pruning() {
  IndexRunOptions options;
  options.prune = true;
  return options;
}

// path -> number of faces, for every photo in the catalog (any status).
std::map<std::string, std::size_t> faces_per_photo(store::Catalog& catalog) {
  std::map<std::string, std::size_t> out;
  for (const store::Photo& photo : catalog.list_photos()) {
    out[photo.path] = catalog.faces_of_photo(photo.id).size();
  }
  return out;
}

std::vector<std::int64_t> face_ids_of(store::Catalog& catalog, const fs::path& file) {
  std::vector<std::int64_t> ids;
  const std::optional<store::Photo> photo = catalog.find_photo(library_path(file));
  if (!photo) return ids;
  for (const store::Face& face : catalog.faces_of_photo(photo->id)) ids.push_back(face.id);
  return ids;
}

// One indexer (detector and five recognition models) for the whole suite:
// loading the models is the slow part.
class LibraryIndexer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(testing::datasets_dir() / "lfw")) return;
    store_.emplace(infer::ModelStore::open());
    if (!testing::pipeline_models_installed(*store_)) return;
    indexer_ = Indexer::create(*store_, {});
  }
  static void TearDownTestSuite() {
    indexer_.reset();
    store_.reset();
  }

  void SetUp() override {
    LIKENESS_REQUIRE_DATASET("lfw");
    if (!indexer_) GTEST_SKIP() << "models not installed (scripts/setup.sh models)";
  }

  static Indexer& indexer() { return *indexer_; }
  static const match::Recognizer& recognizer() { return indexer_->analyzer().recognizer(); }

  static IndexSummary run(Library& library, const fs::path& folder,
                          const IndexRunOptions& options = {}) {
    const std::vector<fs::path> folders{folder};
    return indexer_->run(library, folders, options);
  }

  // The largest face of a photo on disk, described as search would.
  static match::FaceDescription describe_file(const fs::path& file) {
    const DetectedPhoto photo = indexer_->analyzer().detect(file);
    EXPECT_TRUE(photo.ok()) << photo.message;
    EXPECT_FALSE(photo.faces.empty()) << file;
    if (!photo.ok() || photo.faces.empty()) return {};
    return indexer_->analyzer().describe(photo, largest_face(photo.faces));
  }

  static match::FaceDescription stored(Library& library, std::int64_t face_id) {
    const auto description = stored_description(library.catalog(), recognizer(), face_id);
    EXPECT_TRUE(description.has_value()) << "face " << face_id;
    return description.value_or(match::FaceDescription{});
  }

  static void expect_sound(Library& library) {
    const LibraryCheck check = library.check();
    EXPECT_TRUE(check.ok()) << joined(check.problems);
    EXPECT_EQ(check.index_entries, library.catalog().face_count());
    EXPECT_EQ(check.faces_without_vector, 0);
  }

  static std::optional<infer::ModelStore> store_;
  static std::unique_ptr<Indexer> indexer_;
};

std::optional<infer::ModelStore> LibraryIndexer::store_;
std::unique_ptr<Indexer> LibraryIndexer::indexer_;

// Six photos of three people: every photo indexed with its one face, the
// catalog and the saved index in step; a second run skips all of them and
// changes no face.
TEST_F(LibraryIndexer, IndexesAFolderThenSkipsUnchangedPhotos) {
  const testing::TempDir temp("indexer_basic");
  const fs::path photos = temp.path() / "photos";
  const std::vector<std::pair<std::string, int>> chosen = {
      {"Colin_Powell", 1}, {"Colin_Powell", 2},    {"Tony_Blair", 2},
      {"Tony_Blair", 3},   {"Serena_Williams", 1}, {"Serena_Williams", 2}};
  std::set<std::string> expected_paths;
  for (const auto& [name, i] : chosen) {
    const fs::path to = photos / name / lfw_image(name, i).filename();
    copy_photo(lfw_image(name, i), to);
    expected_paths.insert(library_path(to));
  }
  auto lib = Library::open(temp.path() / "library");
  const IndexSummary first = run(*lib, photos);
  EXPECT_FALSE(first.interrupted);
  EXPECT_EQ(first.files_found, 6u);
  EXPECT_EQ(first.photos_new, 6u);
  EXPECT_EQ(first.photos_changed, 0u);
  EXPECT_EQ(first.unchanged, 0u);
  EXPECT_EQ(first.failed, 0u);
  EXPECT_EQ(first.other_files, 0u);
  EXPECT_TRUE(first.errors_by_reason.empty());
  EXPECT_EQ(first.faces_added, 6u);
  EXPECT_EQ(first.new_face_ids.size(), 6u);
  store::Catalog& catalog = lib->catalog();
  EXPECT_EQ(catalog.photo_count(PhotoStatus::kIndexed), 6);
  EXPECT_EQ(catalog.face_count(), 6);
  std::set<std::string> paths;
  for (const auto& [path, faces] : faces_per_photo(catalog)) {
    paths.insert(path);
    EXPECT_EQ(faces, 1u) << path;
  }
  EXPECT_EQ(paths, expected_paths);
  for (const store::Photo& photo : catalog.list_photos()) {
    EXPECT_EQ(photo.status, PhotoStatus::kIndexed) << photo.path;
    EXPECT_EQ(photo.content_hash, io::sha256_hex(file_bytes(photo.path))) << photo.path;
    EXPECT_EQ(photo.size_bytes, static_cast<std::int64_t>(fs::file_size(photo.path)));
  }
  expect_sound(*lib);
  const std::vector<std::int64_t> ids = catalog.face_ids_with_vector();

  // A second run, as a new process would make it.
  lib = Library::open(temp.path() / "library");
  const IndexSummary second = run(*lib, photos);
  EXPECT_FALSE(second.interrupted);
  EXPECT_EQ(second.files_found, 6u);
  EXPECT_EQ(second.unchanged, 6u);
  EXPECT_EQ(second.photos_indexed(), 0u);
  EXPECT_EQ(second.photos_touched, 0u);
  EXPECT_EQ(second.faces_added, 0u);
  EXPECT_EQ(second.faces_removed, 0u);
  EXPECT_TRUE(second.new_face_ids.empty());
  EXPECT_TRUE(second.vanished.empty());
  EXPECT_EQ(lib->catalog().face_ids_with_vector(), ids);
  expect_sound(*lib);
}

// A file with other bytes and a new time is re-indexed: its old face leaves
// the catalog and the index, the new one joins both. A touched file (same
// bytes, new time) keeps its faces and only gets its new time.
TEST_F(LibraryIndexer, ChangedFileIsReindexedTouchedFileOnlyUpdated) {
  const testing::TempDir temp("indexer_changed");
  const fs::path photos = temp.path() / "photos";
  const fs::path changed = photos / "changed.jpg";
  const fs::path touched = photos / "touched.jpg";
  const fs::path kept = photos / "kept.jpg";
  copy_photo(lfw_image("Colin_Powell", 1), changed);
  copy_photo(lfw_image("Tony_Blair", 2), touched);
  copy_photo(lfw_image("Serena_Williams", 1), kept);
  auto lib = Library::open(temp.path() / "library");
  ASSERT_EQ(run(*lib, photos).faces_added, 3u);
  const std::vector<std::int64_t> old_changed = face_ids_of(lib->catalog(), changed);
  const std::vector<std::int64_t> old_touched = face_ids_of(lib->catalog(), touched);
  ASSERT_EQ(old_changed.size(), 1u);
  ASSERT_EQ(old_touched.size(), 1u);

  copy_photo(lfw_image("Gerhard_Schroeder", 1), changed);  // another person
  shift_mtime(changed, 100);
  shift_mtime(touched, 100);
  lib = Library::open(temp.path() / "library");
  const IndexSummary s = run(*lib, photos);
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.photos_changed, 1u);
  EXPECT_EQ(s.photos_touched, 1u);
  EXPECT_EQ(s.unchanged, 1u);
  EXPECT_EQ(s.photos_new, 0u);
  EXPECT_EQ(s.faces_removed, 1u);
  EXPECT_EQ(s.faces_added, 1u);
  ASSERT_EQ(s.new_face_ids.size(), 1u);
  // The saved index was brought up to date, not thrown away and rebuilt.
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kLoaded) << lib->index_state().reason;

  store::Catalog& catalog = lib->catalog();
  EXPECT_FALSE(catalog.find_face(old_changed[0]).has_value());
  EXPECT_EQ(face_ids_of(catalog, changed), s.new_face_ids);
  EXPECT_EQ(face_ids_of(catalog, touched), old_touched);
  EXPECT_EQ(catalog.face_count(), 3);
  const auto changed_photo = catalog.find_photo(library_path(changed));
  ASSERT_TRUE(changed_photo);
  EXPECT_EQ(changed_photo->content_hash, io::sha256_hex(file_bytes(changed)));
  EXPECT_EQ(changed_photo->size_bytes, static_cast<std::int64_t>(fs::file_size(changed)));
  const auto touched_photo = catalog.find_photo(library_path(touched));
  ASSERT_TRUE(touched_photo);
  EXPECT_EQ(touched_photo->status, PhotoStatus::kIndexed);
  EXPECT_EQ(touched_photo->mtime, mtime_seconds(touched));

  // A fresh process sees the same in the saved index.
  lib = Library::open(temp.path() / "library");
  const store::VectorIndex* index = lib->vector_index();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kLoaded) << lib->index_state().reason;
  EXPECT_EQ(index->size(), 3u);
  EXPECT_FALSE(index->contains(old_changed[0]));
  EXPECT_TRUE(index->contains(s.new_face_ids[0]));
  EXPECT_TRUE(index->contains(old_touched[0]));
  expect_sound(*lib);
  // The new face is found as itself.
  const SearchResult found = search_face(*lib, recognizer(), stored(*lib, s.new_face_ids[0]));
  ASSERT_FALSE(found.hits.empty());
  EXPECT_EQ(found.hits[0].face_id, s.new_face_ids[0]);
  EXPECT_EQ(found.hits[0].path, library_path(changed));
}

// A photo overwritten by bytes that are no photo fails, and its old faces
// leave the catalog and the index.
TEST_F(LibraryIndexer, ChangedFileThatNoLongerDecodesLosesItsFaces) {
  const testing::TempDir temp("indexer_broken");
  const fs::path photos = temp.path() / "photos";
  const fs::path broken = photos / "broken.jpg";
  copy_photo(lfw_image("Colin_Powell", 1), broken);
  copy_photo(lfw_image("Tony_Blair", 2), photos / "fine.jpg");
  auto lib = Library::open(temp.path() / "library");
  ASSERT_EQ(run(*lib, photos).faces_added, 2u);
  const std::vector<std::int64_t> old_faces = face_ids_of(lib->catalog(), broken);
  ASSERT_EQ(old_faces.size(), 1u);
  std::vector<std::uint8_t> bytes = file_bytes(broken);
  bytes.resize(bytes.size() / 3);  // a copy interrupted a third of the way
  write_bytes(broken, bytes);
  shift_mtime(broken, 100);
  const IndexSummary s = run(*lib, photos);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.faces_removed, 1u);
  EXPECT_EQ(s.errors_by_reason, (std::map<std::string, std::size_t>{{"truncated", 1}}));
  const auto photo = lib->catalog().find_photo(library_path(broken));
  ASSERT_TRUE(photo);
  EXPECT_EQ(photo->status, PhotoStatus::kFailed);
  EXPECT_FALSE(lib->catalog().find_face(old_faces[0]).has_value());
  EXPECT_EQ(lib->catalog().face_count(), 1);
  lib = Library::open(temp.path() / "library");
  ASSERT_NE(lib->vector_index(), nullptr);
  EXPECT_FALSE(lib->vector_index()->contains(old_faces[0]));
  expect_sound(*lib);
}

// A deleted file is reported vanished and kept (its faces stay, but search
// no longer returns them); with prune it is deleted with its faces, and the
// index follows.
TEST_F(LibraryIndexer, DeletedFileIsVanishedThenPruned) {
  const testing::TempDir temp("indexer_vanished");
  const fs::path photos = temp.path() / "photos";
  const fs::path gone = photos / "gone.jpg";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "stays_1.jpg");
  copy_photo(lfw_image("Colin_Powell", 2), gone);
  copy_photo(lfw_image("Tony_Blair", 2), photos / "sub" / "stays_2.jpg");
  auto lib = Library::open(temp.path() / "library");
  ASSERT_EQ(run(*lib, photos).faces_added, 3u);
  const std::vector<std::int64_t> gone_faces = face_ids_of(lib->catalog(), gone);
  ASSERT_EQ(gone_faces.size(), 1u);
  const match::FaceDescription query = stored(*lib, gone_faces[0]);
  // Before: the face is found as itself.
  SearchResult found = search_face(*lib, recognizer(), query);
  ASSERT_FALSE(found.hits.empty());
  EXPECT_EQ(found.hits[0].face_id, gone_faces[0]);

  fs::remove(gone);
  IndexSummary s = run(*lib, photos);
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.vanished, std::vector<std::string>{library_path(gone)});
  EXPECT_EQ(s.pruned, 0u);
  EXPECT_EQ(s.unchanged, 2u);
  EXPECT_EQ(s.faces_removed, 0u);
  const auto photo = lib->catalog().find_photo(library_path(gone));
  ASSERT_TRUE(photo);
  EXPECT_EQ(photo->status, PhotoStatus::kVanished);
  EXPECT_TRUE(lib->catalog().find_face(gone_faces[0]).has_value());
  EXPECT_EQ(lib->catalog().photo_count(PhotoStatus::kIndexed), 2);
  found = search_face(*lib, recognizer(), query, {.min_probability = 0.0});
  EXPECT_FALSE(found.hits.empty());  // the other photos still answer
  for (const SearchHit& hit : found.hits) {
    EXPECT_NE(hit.face_id, gone_faces[0]);
    EXPECT_NE(hit.path, library_path(gone));
  }
  expect_sound(*lib);

  // Copied back (same bytes, new time): searchable again, with the same face.
  copy_photo(lfw_image("Colin_Powell", 2), gone);
  s = run(*lib, photos);
  EXPECT_EQ(s.photos_touched, 1u);
  EXPECT_EQ(s.photos_indexed(), 0u);
  EXPECT_TRUE(s.vanished.empty());
  EXPECT_EQ(lib->catalog().find_photo(library_path(gone))->status, PhotoStatus::kIndexed);
  EXPECT_EQ(face_ids_of(lib->catalog(), gone), gone_faces);
  found = search_face(*lib, recognizer(), query);
  ASSERT_FALSE(found.hits.empty());
  EXPECT_EQ(found.hits[0].face_id, gone_faces[0]);

  fs::remove(gone);
  s = run(*lib, photos, pruning());
  EXPECT_EQ(s.vanished, std::vector<std::string>{library_path(gone)});
  EXPECT_EQ(s.pruned, 1u);
  EXPECT_EQ(s.faces_removed, 1u);
  EXPECT_FALSE(lib->catalog().find_photo(library_path(gone)).has_value());
  EXPECT_FALSE(lib->catalog().find_face(gone_faces[0]).has_value());
  EXPECT_EQ(lib->catalog().face_count(), 2);
  lib = Library::open(temp.path() / "library");
  const store::VectorIndex* index = lib->vector_index();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kLoaded) << lib->index_state().reason;
  EXPECT_FALSE(index->contains(gone_faces[0]));
  EXPECT_EQ(index->size(), 2u);
  expect_sound(*lib);
}

// Bad files among good ones: each good photo is indexed, each bad one is
// recorded failed with its reason, a file that is no photo is only counted,
// a folder named like a photo is walked into (and counted as a folder), a
// symlink loop is not followed twice, and every entry that is none of these
// is counted under its reason: nothing is skipped silently. The run ends
// normally; a second run finds nothing to do.
TEST_F(LibraryIndexer, BadFilesAreRecordedAndGoodOnesIndexed) {
  const testing::TempDir temp("indexer_bad");
  const fs::path photos = temp.path() / "photos";
  const fs::path good_1 = photos / "good_1.jpg";
  const fs::path good_2 = photos / "good_2.JPG";
  const fs::path in_folder = photos / "folder.jpg" / "good_3.jpg";
  const fs::path odd_name = photos / std::string("\xff\xfe odd \xe9.jpg");  // not UTF-8
  copy_photo(lfw_image("Colin_Powell", 1), good_1);
  copy_photo(lfw_image("Tony_Blair", 2), good_2);
  copy_photo(lfw_image("Serena_Williams", 1), in_folder);
  copy_photo(lfw_image("Gerhard_Schroeder", 1), odd_name);
  const fs::path empty = photos / "empty.jpg";
  const fs::path random = photos / "random.jpg";
  const fs::path truncated = photos / "truncated.jpeg";
  const fs::path dangling = photos / "dangling.jpg";
  write_bytes(empty, {});
  std::mt19937 rng(7);
  std::vector<std::uint8_t> noise(4000);
  for (std::uint8_t& b : noise) b = static_cast<std::uint8_t>(rng());
  noise[0] = 'x';  // not by chance a photo's magic number
  write_bytes(random, noise);
  std::vector<std::uint8_t> jpeg = file_bytes(lfw_image("Colin_Powell", 3));
  jpeg.resize(jpeg.size() / 2);
  write_bytes(truncated, jpeg);
  std::ofstream(photos / "notes.txt") << "not a photo\n";
  fs::create_symlink("no_such_photo.jpg", dangling);
  const fs::path fifo = photos / "pipe.jpg";  // must be refused without being opened
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((photos / "pipe.txt").c_str(), 0600), 0);       // not a photo's name: ignored
  fs::create_directory_symlink(".", photos / "loop");                // the folder itself
  fs::create_directory_symlink("..", photos / "folder.jpg" / "up");  // its parent
  fs::create_symlink("chain_b", photos / "chain_a");                 // a chain without end
  fs::create_symlink("chain_a", photos / "chain_b");
  fs::create_symlink("nowhere", photos / "dangling_link");  // not a photo's name: counted

  auto lib = Library::open(temp.path() / "library");
  const IndexSummary s = run(*lib, photos);
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.files_found, 9u);
  EXPECT_EQ(s.photos_new, 4u);
  EXPECT_EQ(s.faces_added, 4u);
  EXPECT_EQ(s.failed, 5u);
  EXPECT_EQ(s.other_files, 1u);
  EXPECT_EQ(s.folders, 2u);  // photos/ and photos/folder.jpg/
  const std::map<std::string, std::size_t> skipped{
      {"broken_symlink", 1}, {"not_a_file", 1}, {"symlink_loop", 4}};
  EXPECT_EQ(s.skipped_by_reason, skipped);
  const std::map<std::string, std::size_t> reasons{
      {"empty", 1}, {"not_a_file", 1}, {"not_an_image", 1}, {"not_found", 1}, {"truncated", 1}};
  EXPECT_EQ(s.errors_by_reason, reasons);
  std::map<std::string, std::string> failure_reason;
  for (const IndexFailure& f : s.failures) {
    failure_reason[f.path] = f.reason;
    EXPECT_FALSE(f.message.empty()) << f.path;
  }
  const std::map<std::string, std::string> expected_failures{{library_path(empty), "empty"},
                                                             {library_path(random), "not_an_image"},
                                                             {library_path(truncated), "truncated"},
                                                             {library_path(dangling), "not_found"},
                                                             {library_path(fifo), "not_a_file"}};
  EXPECT_EQ(failure_reason, expected_failures);

  store::Catalog& catalog = lib->catalog();
  for (const fs::path& good : {good_1, good_2, in_folder, odd_name}) {
    const auto photo = catalog.find_photo(library_path(good));
    ASSERT_TRUE(photo) << good;
    EXPECT_EQ(photo->status, PhotoStatus::kIndexed);
    EXPECT_EQ(catalog.faces_of_photo(photo->id).size(), 1u) << good;
  }
  for (const auto& [path, reason] : expected_failures) {
    const auto photo = catalog.find_photo(path);
    ASSERT_TRUE(photo) << path;
    EXPECT_EQ(photo->status, PhotoStatus::kFailed) << path;
    EXPECT_EQ(photo->error.rfind(reason + ":", 0), 0u) << photo->error;
    EXPECT_TRUE(catalog.faces_of_photo(photo->id).empty());
  }
  EXPECT_EQ(catalog.list_photos().size(), 9u);  // nothing through the loops
  for (const store::Photo& photo : catalog.list_photos()) {
    EXPECT_EQ(photo.path.find("/loop/"), std::string::npos) << photo.path;
    EXPECT_EQ(photo.path.find("/up/"), std::string::npos) << photo.path;
  }
  expect_sound(*lib);

  const IndexSummary again = run(*lib, photos);
  EXPECT_EQ(again.files_found, 9u);
  EXPECT_EQ(again.unchanged, 9u);
  EXPECT_EQ(again.skipped_by_reason, skipped);
  EXPECT_EQ(again.failed, 0u);
  EXPECT_EQ(again.photos_indexed(), 0u);
  EXPECT_TRUE(again.vanished.empty());
}

// A photo named twice (its folder and itself, or one folder twice) is one
// photo with its faces once.
TEST_F(LibraryIndexer, PhotoReachedTwiceIsIndexedOnce) {
  const testing::TempDir temp("indexer_twice");
  const fs::path photos = temp.path() / "photos";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "a.jpg");
  copy_photo(lfw_image("Tony_Blair", 2), photos / "b.jpg");
  auto lib = Library::open(temp.path() / "library");
  const std::vector<fs::path> folders{photos, photos / "a.jpg", photos / "a.jpg",
                                      temp.path() / "photos" / "." / "b.jpg"};
  const IndexSummary s = indexer().run(*lib, folders);
  EXPECT_EQ(s.photos_new, 2u);
  EXPECT_EQ(s.faces_added, 2u);
  EXPECT_EQ(lib->catalog().face_count(), 2);
  for (const auto& [path, faces] : faces_per_photo(lib->catalog())) EXPECT_EQ(faces, 1u) << path;
  expect_sound(*lib);
}

// Takes every permission from a file or folder for one scope. Root would read
// it anyway, so for that scope this thread, and the indexer's workers it
// starts, also give up the capabilities that let root ignore permissions
// (testing::NoPermissionOverride); effective() says whether that worked (not
// in a container that withholds the capabilities from being changed).
class Locked {
 public:
  explicit Locked(fs::path path) : path_(std::move(path)), saved_(fs::status(path_).permissions()) {
    fs::permissions(path_, fs::perms::none);
  }
  ~Locked() { unlock(); }
  void unlock() {
    std::error_code ignored;
    fs::permissions(path_, saved_, ignored);
  }
  bool effective() const { return testing::unreadable_here(path_); }

 private:
  testing::NoPermissionOverride as_a_user_;
  fs::path path_;
  fs::perms saved_;
};

#define SKIP_UNLESS_LOCKED(locked)                                                        \
  do {                                                                                    \
    if (!(locked).effective()) {                                                          \
      GTEST_SKIP() << "permissions cannot make a file unreadable here (root that cannot " \
                      "drop CAP_DAC_OVERRIDE)";                                           \
    }                                                                                     \
  } while (0)

// A folder that cannot be listed is an error, and the photos the catalog
// holds under it are not vanished (nor pruned): they are unknown this run.
TEST_F(LibraryIndexer, UnreadableFolderIsAnErrorAndItsPhotosStay) {
  const testing::TempDir temp("indexer_locked_folder");
  const fs::path photos = temp.path() / "photos";
  const fs::path hidden = photos / "locked" / "b.jpg";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "open" / "a.jpg");
  copy_photo(lfw_image("Tony_Blair", 2), hidden);
  auto lib = Library::open(temp.path() / "library");
  ASSERT_EQ(run(*lib, photos).faces_added, 2u);
  Locked locked(photos / "locked");
  SKIP_UNLESS_LOCKED(locked);
  const IndexSummary s = run(*lib, photos, pruning());
  EXPECT_FALSE(s.interrupted);
  EXPECT_TRUE(s.vanished.empty());
  EXPECT_EQ(s.pruned, 0u);
  EXPECT_EQ(s.faces_removed, 0u);
  const auto photo = lib->catalog().find_photo(library_path(hidden));
  ASSERT_TRUE(photo) << "pruned";
  EXPECT_EQ(photo->status, PhotoStatus::kIndexed);
  EXPECT_EQ(face_ids_of(lib->catalog(), hidden).size(), 1u);
  EXPECT_EQ(s.errors_by_reason, (std::map<std::string, std::size_t>{{"unreadable_folder", 1}}));
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0].path, library_path(photos / "locked"));
  EXPECT_FALSE(s.failures[0].message.empty());
  locked.unlock();
  const IndexSummary again = run(*lib, photos);
  EXPECT_TRUE(again.errors_by_reason.empty());
  EXPECT_EQ(again.unchanged, 2u);
  expect_sound(*lib);
}

// A photo that could not be read is tried again once it can be, although
// fixing its permissions left its size and time alone.
TEST_F(LibraryIndexer, UnreadablePhotoIsRetriedUntilItCanBeRead) {
  const testing::TempDir temp("indexer_locked_photo");
  const fs::path photos = temp.path() / "photos";
  const fs::path b = photos / "b.jpg";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "a.jpg");
  copy_photo(lfw_image("Tony_Blair", 2), b);
  auto lib = Library::open(temp.path() / "library");
  Locked locked(b);
  SKIP_UNLESS_LOCKED(locked);
  IndexSummary s = run(*lib, photos);
  EXPECT_EQ(s.faces_added, 1u);
  EXPECT_EQ(s.errors_by_reason, (std::map<std::string, std::size_t>{{"unreadable", 1}}));
  EXPECT_EQ(lib->catalog().find_photo(library_path(b))->status, PhotoStatus::kFailed);
  s = run(*lib, photos);  // still unreadable: tried again, failed again
  EXPECT_EQ(s.errors_by_reason, (std::map<std::string, std::size_t>{{"unreadable", 1}}));
  EXPECT_EQ(s.unchanged, 1u);
  locked.unlock();
  s = run(*lib, photos);
  EXPECT_TRUE(s.errors_by_reason.empty());
  EXPECT_EQ(s.photos_indexed(), 1u);
  EXPECT_EQ(s.faces_added, 1u);
  EXPECT_EQ(lib->catalog().find_photo(library_path(b))->status, PhotoStatus::kIndexed);
  EXPECT_EQ(face_ids_of(lib->catalog(), b).size(), 1u);
  expect_sound(*lib);
}

// A folder that does not exist is UsageError before anything is written.
TEST_F(LibraryIndexer, MissingFolderIsUsageErrorAndWritesNothing) {
  const testing::TempDir temp("indexer_missing");
  copy_photo(lfw_image("Colin_Powell", 1), temp.path() / "photos" / "a.jpg");
  auto lib = Library::open(temp.path() / "library");
  const std::vector<fs::path> folders{temp.path() / "photos", temp.path() / "no_such_folder"};
  EXPECT_THROW(indexer().run(*lib, folders), UsageError);
  EXPECT_TRUE(lib->catalog().list_photos().empty());
}

// Another process holding the catalog's write lock longer than the busy
// timeout: StoreError (the workers are stopped, nothing hangs), nothing
// half-written; once the lock is gone a run completes.
TEST_F(LibraryIndexer, BusyCatalogIsStoreErrorAndNothingHangs) {
  const testing::TempDir temp("indexer_busy");
  const fs::path photos = temp.path() / "photos";
  for (int i = 1; i <= 5; ++i) {
    copy_photo(lfw_image("Colin_Powell", i), photos / lfw_image("Colin_Powell", i).filename());
  }
  auto lib = Library::open(temp.path() / "library", {.busy_timeout_ms = 100});
  {
    auto other = store::Catalog::open(temp.path() / "library");
    store::Transaction hold(*other);  // BEGIN IMMEDIATE: the write lock
    IndexRunOptions options;
    options.batch_size = 2;
    EXPECT_THROW(run(*lib, photos, options), store::StoreError);
  }
  EXPECT_TRUE(lib->catalog().list_photos().empty());
  const IndexSummary s = run(*lib, photos);
  EXPECT_EQ(s.photos_new, 5u);
  expect_sound(*lib);
  IndexRunOptions zero;
  zero.batch_size = 0;
  EXPECT_THROW(run(*lib, photos, zero), UsageError);
}

// A stop requested after the first photo: the run ends early, what it
// committed is sound, and a re-run completes it into exactly what one clean
// run gives.
TEST_F(LibraryIndexer, StoppedRunResumesToTheSameLibrary) {
  const testing::TempDir temp("indexer_stop");
  const fs::path photos = temp.path() / "photos";
  // 12 photos: after the stop at most the open batch (2), the queue (4) and
  // one photo per worker (2) are still committed, so some are always left.
  for (int i = 1; i <= 6; ++i) {
    copy_photo(lfw_image("Colin_Powell", i),
               photos / "powell" / lfw_image("Colin_Powell", i).filename());
    copy_photo(lfw_image("Tony_Blair", i + 1),
               photos / "blair" / lfw_image("Tony_Blair", i + 1).filename());
  }
  auto clean = Library::open(temp.path() / "clean");
  const IndexSummary reference = run(*clean, photos);
  ASSERT_EQ(reference.photos_new, 12u);
  ASSERT_FALSE(reference.interrupted);

  auto lib = Library::open(temp.path() / "stopped");
  std::atomic<bool> stop{false};
  IndexRunOptions options;
  options.batch_size = 2;
  options.stop = &stop;
  std::size_t progress_calls = 0;
  options.on_progress = [&](const IndexProgress& p) {
    ++progress_calls;
    if (p.files_done >= 1) stop.store(true);
  };
  const IndexSummary stopped = run(*lib, photos, options);
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_GE(progress_calls, 2u);
  EXPECT_GE(stopped.photos_new, 1u);
  EXPECT_LT(stopped.photos_new, 12u);
  EXPECT_TRUE(stopped.vanished.empty());
  EXPECT_EQ(lib->catalog().list_photos().size(), stopped.photos_new);
  EXPECT_EQ(lib->catalog().face_count(), static_cast<std::int64_t>(stopped.faces_added));
  expect_sound(*lib);  // the index was saved on stop

  lib = Library::open(temp.path() / "stopped");
  const IndexSummary resumed = run(*lib, photos);
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(resumed.unchanged, stopped.photos_new);
  EXPECT_EQ(resumed.photos_new, 12u - stopped.photos_new);
  EXPECT_EQ(stopped.faces_added + resumed.faces_added, reference.faces_added);
  EXPECT_EQ(faces_per_photo(lib->catalog()), faces_per_photo(clean->catalog()));
  EXPECT_EQ(lib->catalog().face_count(), clean->catalog().face_count());
  expect_sound(*lib);
}

// search_face: a photo of one of three indexed people finds that person's
// photos first and nobody else at the calibrated threshold; the threshold is
// strict; top_k bounds the hits; a low-quality library face is left out
// unless asked for.
TEST_F(LibraryIndexer, SearchFindsThePersonAndRespectsThresholdAndQuality) {
  const testing::TempDir temp("indexer_search");
  const fs::path photos = temp.path() / "photos";
  for (const std::string name : {"Colin_Powell", "Tony_Blair", "Serena_Williams"}) {
    for (int i = 1; i <= 4; ++i) {
      copy_photo(lfw_image(name, i + 1), photos / name / lfw_image(name, i + 1).filename());
    }
  }
  auto lib = Library::open(temp.path() / "library");
  ASSERT_EQ(run(*lib, photos).faces_added, 12u);
  const std::string powell = library_path(photos / "Colin_Powell") + "/";
  const auto is_powell = [&](const SearchHit& h) { return h.path.rfind(powell, 0) == 0; };
  const match::FaceDescription query = describe_file(lfw_image("Colin_Powell", 8));  // not indexed

  const SearchResult found = search_face(*lib, recognizer(), query);
  EXPECT_DOUBLE_EQ(found.threshold, recognizer().calibration().probability_threshold());
  EXPECT_GE(found.candidates, 12u);
  ASSERT_GE(found.hits.size(), 3u);
  EXPECT_LE(found.hits.size(), 4u);
  for (const SearchHit& hit : found.hits) {
    EXPECT_TRUE(is_powell(hit)) << hit.path << " " << hit.probability;
    EXPECT_GT(hit.probability, found.threshold);
    EXPECT_TRUE(hit.same_person);
    EXPECT_TRUE(hit.searchable);
  }
  for (std::size_t i = 1; i < found.hits.size(); ++i) {
    EXPECT_GE(found.hits[i - 1].probability, found.hits[i].probability);
  }

  // Every face, best first: Powell's four ahead of everyone else.
  const SearchResult all =
      search_face(*lib, recognizer(), query, {.top_k = 50, .min_probability = 0.0});
  EXPECT_DOUBLE_EQ(all.threshold, 0.0);
  ASSERT_GE(all.hits.size(), 5u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(is_powell(all.hits[i])) << all.hits[i].path;
  for (std::size_t i = 4; i < all.hits.size(); ++i) EXPECT_FALSE(is_powell(all.hits[i]));

  // The threshold is strict: a threshold equal to a hit's probability leaves
  // out that hit and every one below it.
  const double cut = all.hits[2].probability;
  const auto above = static_cast<std::size_t>(std::count_if(
      all.hits.begin(), all.hits.end(), [&](const SearchHit& h) { return h.probability > cut; }));
  const SearchResult strict =
      search_face(*lib, recognizer(), query, {.top_k = 50, .min_probability = cut});
  EXPECT_EQ(strict.hits.size(), above);
  for (const SearchHit& hit : strict.hits) EXPECT_GT(hit.probability, cut);

  const SearchResult two =
      search_face(*lib, recognizer(), query, {.top_k = 2, .min_probability = 0.0});
  ASSERT_EQ(two.hits.size(), 2u);
  EXPECT_EQ(two.hits[0].face_id, all.hits[0].face_id);
  EXPECT_EQ(two.hits[1].face_id, all.hits[1].face_id);

  // Raise the minimum quality just above Powell's worst face: it becomes
  // low quality, left out unless include_low_quality.
  const auto worst = std::min_element(
      all.hits.begin(), all.hits.begin() + 4,
      [](const SearchHit& a, const SearchHit& b) { return a.quality.overall < b.quality.overall; });
  const float strict_quality = worst->quality.overall + 1e-4f;
  ASSERT_LT(strict_quality, 1.0f);
  const auto picky = match::Recognizer::create(*store_, {.min_quality = strict_quality});
  const SearchResult without =
      search_face(*lib, *picky, query, {.top_k = 50, .min_probability = 0.0});
  const SearchResult with = search_face(
      *lib, *picky, query, {.top_k = 50, .min_probability = 0.0, .include_low_quality = true});
  const auto has_worst = [&](const SearchResult& r) {
    return std::find_if(r.hits.begin(), r.hits.end(), [&](const SearchHit& h) {
             return h.face_id == worst->face_id;
           }) != r.hits.end();
  };
  EXPECT_FALSE(has_worst(without));
  ASSERT_TRUE(has_worst(with));
  EXPECT_LT(without.hits.size(), with.hits.size());
  for (const SearchHit& hit : without.hits) {
    EXPECT_TRUE(hit.searchable);
    EXPECT_GE(hit.quality.overall, strict_quality);
  }
  for (const SearchHit& hit : with.hits) {
    EXPECT_EQ(hit.searchable, hit.quality.overall >= strict_quality) << hit.path;
  }
  // The default minimum keeps all of them.
  EXPECT_TRUE(has_worst(all));
}

// A JPEG's bytes with an APP1 Exif segment holding Orientation and
// DateTimeOriginal (little-endian TIFF) after its SOI marker.
std::vector<std::uint8_t> with_exif(const std::vector<std::uint8_t>& jpeg, int orientation,
                                    const std::string& date) {
  std::vector<std::uint8_t> t = {'I', 'I', 42, 0, 8, 0, 0, 0};
  const auto u16 = [&](std::uint32_t v) {
    t.push_back(static_cast<std::uint8_t>(v));
    t.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  const auto u32 = [&](std::uint32_t v) {
    u16(v & 0xffff);
    u16(v >> 16);
  };
  const std::uint32_t exif_ifd = 8 + 2 + 2 * 12 + 4;
  u16(2);
  u16(0x0112);  // Orientation: SHORT, one value
  u16(3);
  u32(1);
  u16(static_cast<std::uint32_t>(orientation));
  u16(0);
  u16(0x8769);  // Exif IFD
  u16(4);
  u32(1);
  u32(exif_ifd);
  u32(0);
  u16(1);
  u16(0x9003);  // DateTimeOriginal: ASCII, 20 bytes
  u16(2);
  u32(20);
  u32(exif_ifd + 2 + 12 + 4);
  u32(0);
  t.insert(t.end(), date.begin(), date.end());
  t.push_back(0);
  const std::size_t length = 2 + 6 + t.size();
  const std::array<std::uint8_t, 10> app1{0xff,
                                          0xe1,
                                          static_cast<std::uint8_t>(length >> 8),
                                          static_cast<std::uint8_t>(length),
                                          'E',
                                          'x',
                                          'i',
                                          'f',
                                          0,
                                          0};
  // Reserved up front: growing from the two-byte SOI makes GCC 12 warn
  // (-Warray-bounds, a false positive in its memmove inlining).
  std::vector<std::uint8_t> out;
  out.reserve(jpeg.size() + app1.size() + t.size());
  out.push_back(jpeg[0]);
  out.push_back(jpeg[1]);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), t.begin(), t.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

std::vector<std::uint8_t> jpeg_of(const cv::Mat& bgr) {
  std::vector<std::uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, 92}));
  return bytes;
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  return na > 0.0 && nb > 0.0 ? static_cast<float>(dot / std::sqrt(na * nb)) : 0.0f;
}

// A 12-MP photo, upright and stored turned (EXIF orientation 6 and 8), with
// one face small enough to be described from a full-resolution crop: the
// face is found on the reduced view, reported in the oriented photo's pixels
// where it was pasted, described like the same face alone, and recorded so
// (box, capture time) by the indexer.
TEST_F(LibraryIndexer, BigTurnedPhotoIsDescribedFromAFullResolutionCrop) {
  const testing::TempDir temp("indexer_big");
  cv::Mat face = cv::imread(lfw_image("Colin_Powell", 2).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(face.empty());
  cv::resize(face, face, {300, 300}, 0, 0, cv::INTER_CUBIC);
  const fs::path alone = temp.path() / "alone.jpg";
  write_bytes(alone, jpeg_of(face));
  const DetectedPhoto reference = indexer().analyzer().detect(alone);
  ASSERT_TRUE(reference.ok()) << reference.message;
  ASSERT_EQ(reference.faces.size(), 1u);
  const match::FaceDescription reference_face = indexer().analyzer().describe(reference, 0);
  const match::FaceDescription other = describe_file(lfw_image("Tony_Blair", 2));

  cv::Mat upright(3000, 4000, CV_8UC3);
  cv::randu(upright, cv::Scalar(90, 90, 90), cv::Scalar(150, 150, 150));
  const cv::Point at(2600, 1100);
  face.copyTo(upright(cv::Rect(at, face.size())));
  const fs::path photos = temp.path() / "photos";
  const std::vector<std::pair<int, cv::RotateFlags>> turns = {{6, cv::ROTATE_90_COUNTERCLOCKWISE},
                                                              {8, cv::ROTATE_90_CLOCKWISE}};
  for (const auto& [orientation, stored_turn] : turns) {
    SCOPED_TRACE("orientation " + std::to_string(orientation));
    cv::Mat stored;
    cv::rotate(upright, stored, stored_turn);
    const fs::path file = photos / ("turned_" + std::to_string(orientation) + ".jpg");
    write_bytes(file, with_exif(jpeg_of(stored), orientation, "2021:05:06 07:08:09"));
    const DetectedPhoto photo = indexer().analyzer().detect(file);
    ASSERT_TRUE(photo.ok()) << photo.message;
    EXPECT_EQ(photo.width, 4000);
    EXPECT_EQ(photo.height, 3000);
    EXPECT_LT(photo.scale, 1.0);                           // detected on a reduced view
    EXPECT_EQ(photo.capture_time, "2021-05-06T07:08:09");  // ISO 8601 from EXIF's form
    ASSERT_FALSE(photo.faces.empty());
    const std::size_t i = largest_face(photo.faces);
    const cv::Rect2f want(reference.faces[0].box.x + static_cast<float>(at.x),
                          reference.faces[0].box.y + static_cast<float>(at.y),
                          reference.faces[0].box.width, reference.faces[0].box.height);
    const cv::Rect2f got = photo.faces[i].box;
    EXPECT_NEAR(got.x, want.x, 0.1 * want.width);
    EXPECT_NEAR(got.y, want.y, 0.1 * want.height);
    EXPECT_NEAR(got.width, want.width, 0.15 * want.width);
    EXPECT_NEAR(got.height, want.height, 0.15 * want.height);
    ASSERT_LT(got.width * photo.scale, AnalyzerOptions{}.describe_from_full_below);
    const match::FaceDescription d = indexer().analyzer().describe(photo, i);
    ASSERT_FALSE(d.fused.empty());
    const float same = cosine(d.fused, reference_face.fused);
    const float different = cosine(d.fused, other.fused);
    // Fused vectors of different people are far from orthogonal (about 0.7
    // here); the same face re-encoded stays near 1.
    EXPECT_GT(same, 0.95f) << "different person: " << different;
    EXPECT_GT(same, different + 0.15f);
    EXPECT_TRUE(recognizer().compare(d, reference_face).same_person);
  }
  auto lib = Library::open(temp.path() / "library");
  const IndexSummary s = run(*lib, photos);
  EXPECT_EQ(s.photos_new, 2u);
  for (const auto& [orientation, stored_turn] : turns) {
    const auto photo = lib->catalog().find_photo(
        library_path(photos / ("turned_" + std::to_string(orientation) + ".jpg")));
    ASSERT_TRUE(photo);
    EXPECT_EQ(photo->capture_time, std::optional<std::string>("2021-05-06T07:08:09"));
    bool found = false;
    for (const store::Face& f : lib->catalog().faces_of_photo(photo->id)) {
      found = found || (std::abs(f.box.x - (reference.faces[0].box.x + static_cast<float>(at.x))) <
                            0.1f * f.box.w &&
                        std::abs(f.box.y - (reference.faces[0].box.y + static_cast<float>(at.y))) <
                            0.1f * f.box.h);
    }
    EXPECT_TRUE(found) << "orientation " << orientation;
  }
}

// analyze_all() (and describe_all(), for uploads) decodes the surroundings of
// every small face of a photo in one pass; each face must come out as
// analyze() describes it alone (same
// pixels to within chroma rounding), including faces side by side in the
// same rows, faces far apart vertically, and a big face described from the
// view. The photo is stored turned (EXIF 6) so that the regions are mapped
// through the orientation too.
TEST_F(LibraryIndexer, AllFacesAtOnceMatchFaceByFace) {
  const testing::TempDir temp("indexer_all_faces");
  cv::Mat upright(3000, 4000, CV_8UC3);
  cv::randu(upright, cv::Scalar(90, 90, 90), cv::Scalar(150, 150, 150));
  const std::vector<std::tuple<std::string, int, cv::Point>> pasted = {
      {"Colin_Powell", 200, {600, 300}},
      {"Tony_Blair", 180, {1500, 330}},
      {"George_W_Bush", 160, {900, 2400}},
      {"Gerhard_Schroeder", 220, {3300, 1800}},
      {"Jean_Chretien", 700, {2000, 1000}}};
  for (const auto& [name, size, at] : pasted) {
    cv::Mat face = cv::imread(lfw_image(name, 1).string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(face.empty()) << name;
    cv::resize(face, face, {size, size}, 0, 0, cv::INTER_CUBIC);
    face.copyTo(upright(cv::Rect(at, face.size())));
  }
  cv::Mat stored;
  cv::rotate(upright, stored, cv::ROTATE_90_COUNTERCLOCKWISE);
  const fs::path file = temp.path() / "group.jpg";
  write_bytes(file, with_exif(jpeg_of(stored), 6, "2021:05:06 07:08:09"));
  const PhotoAnalyzer& analyzer = indexer().analyzer();
  const DetectedPhoto photo = analyzer.detect(file);
  ASSERT_TRUE(photo.ok()) << photo.message;
  ASSERT_GE(photo.faces.size(), pasted.size());
  std::size_t small = 0;
  for (const detect::Detection& f : photo.faces) {
    small += f.box.width * photo.scale < AnalyzerOptions{}.describe_from_full_below ? 1 : 0;
  }
  ASSERT_GE(small, 4u);  // the four small faces take the full-resolution path
  const std::vector<AnalyzedFace> all = analyzer.analyze_all(photo);
  const std::vector<match::FaceDescription> described = analyzer.describe_all(photo);
  ASSERT_EQ(all.size(), photo.faces.size());
  ASSERT_EQ(described.size(), photo.faces.size());
  for (std::size_t i = 0; i < photo.faces.size(); ++i) {
    SCOPED_TRACE("face " + std::to_string(i));
    EXPECT_GT(cosine(described[i].fused, all[i].description.fused), 0.99999f);
    const AnalyzedFace alone = analyzer.analyze(photo, i);
    const match::FaceDescription& a = all[i].description;
    const match::FaceDescription& b = alone.description;
    ASSERT_EQ(a.member_vectors.size(), b.member_vectors.size());
    for (std::size_t m = 0; m < a.member_vectors.size(); ++m) {
      EXPECT_GT(cosine(a.member_vectors[m], b.member_vectors[m]), 0.999f) << "member " << m;
    }
    EXPECT_GT(cosine(a.fused, b.fused), 0.999f);
    EXPECT_NEAR(a.quality.overall, b.quality.overall, 0.01);
    EXPECT_EQ(all[i].attributes.empty(), alone.attributes.empty());
  }
  // A stop already requested: nothing is analyzed.
  std::atomic<bool> stop{true};
  EXPECT_TRUE(analyzer.analyze_all(photo, &stop).empty());
}

class LibraryIndexRepair : public LibraryIndexer {};

// A run killed after committing faces but before saving the index leaves an
// index that lacks them: the library adds them (repaired, not rebuilt), and
// search finds them.
TEST_F(LibraryIndexRepair, IndexLackingCommittedFacesIsRepaired) {
  const testing::TempDir temp("repair_missing");
  const fs::path photos = temp.path() / "photos";
  const fs::path dir = temp.path() / "library";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "a.jpg");
  copy_photo(lfw_image("Tony_Blair", 2), photos / "b.jpg");
  auto lib = Library::open(dir);
  ASSERT_EQ(run(*lib, photos).faces_added, 2u);
  lib.reset();
  const fs::path saved = temp.path() / "saved";
  fs::create_directories(saved);
  fs::copy_file(dir / "faces.hnsw", saved / "faces.hnsw");
  fs::copy_file(dir / "faces.hnsw.stamp", saved / "faces.hnsw.stamp");

  copy_photo(lfw_image("Serena_Williams", 1), photos / "c.jpg");
  copy_photo(lfw_image("Gerhard_Schroeder", 1), photos / "d.jpg");
  lib = Library::open(dir);
  const IndexSummary s = run(*lib, photos);
  ASSERT_EQ(s.faces_added, 2u);
  lib.reset();
  // "kill -9" between the commit and the index save: the old index is back.
  fs::copy_file(saved / "faces.hnsw", dir / "faces.hnsw", fs::copy_options::overwrite_existing);
  fs::copy_file(saved / "faces.hnsw.stamp", dir / "faces.hnsw.stamp",
                fs::copy_options::overwrite_existing);

  lib = Library::open(dir, {.create_if_missing = false});
  const LibraryCheck before = lib->check();
  EXPECT_TRUE(before.catalog_ok());
  EXPECT_FALSE(before.index_ok());
  EXPECT_FALSE(before.ok());
  EXPECT_EQ(before.missing_from_index, 2);
  EXPECT_EQ(before.extra_in_index, 0);
  const store::VectorIndex* index = lib->vector_index();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kRepaired);
  EXPECT_FALSE(lib->index_state().reason.empty());
  EXPECT_EQ(index->size(), 4u);
  for (std::int64_t id : s.new_face_ids) {
    EXPECT_TRUE(index->contains(id));
    const SearchResult found = search_face(*lib, recognizer(), stored(*lib, id));
    ASSERT_FALSE(found.hits.empty());
    EXPECT_EQ(found.hits[0].face_id, id);
  }
  expect_sound(*lib);  // the repaired index was saved
  lib = Library::open(dir);
  lib->vector_index();
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kLoaded);
}

// An index holding faces the catalog no longer has (restored from before a
// prune), and an index file with damaged bytes, are rebuilt from the catalog.
TEST_F(LibraryIndexRepair, StaleOrCorruptIndexIsRebuilt) {
  const testing::TempDir temp("repair_rebuild");
  const fs::path photos = temp.path() / "photos";
  const fs::path dir = temp.path() / "library";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "a.jpg");
  copy_photo(lfw_image("Tony_Blair", 2), photos / "b.jpg");
  copy_photo(lfw_image("Serena_Williams", 1), photos / "c.jpg");
  auto lib = Library::open(dir);
  ASSERT_EQ(run(*lib, photos).faces_added, 3u);
  const std::vector<std::int64_t> pruned = face_ids_of(lib->catalog(), photos / "c.jpg");
  ASSERT_EQ(pruned.size(), 1u);
  lib.reset();
  const std::vector<std::uint8_t> old_index = file_bytes(dir / "faces.hnsw");
  const std::vector<std::uint8_t> old_stamp = file_bytes(dir / "faces.hnsw.stamp");
  fs::remove(photos / "c.jpg");
  lib = Library::open(dir);
  ASSERT_EQ(run(*lib, photos, pruning()).pruned, 1u);
  lib.reset();
  write_bytes(dir / "faces.hnsw", old_index);
  write_bytes(dir / "faces.hnsw.stamp", old_stamp);

  lib = Library::open(dir);
  LibraryCheck check = lib->check();
  EXPECT_TRUE(check.catalog_ok());
  EXPECT_EQ(check.extra_in_index, 1);
  EXPECT_FALSE(check.ok());
  const store::VectorIndex* index = lib->vector_index();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kRebuilt);
  EXPECT_EQ(index->size(), 2u);
  EXPECT_FALSE(index->contains(pruned[0]));
  expect_sound(*lib);

  // Damaged bytes in the middle of the saved index.
  lib.reset();
  std::vector<std::uint8_t> bytes = file_bytes(dir / "faces.hnsw");
  ASSERT_GT(bytes.size(), 64u);
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 32; ++i) bytes[i] ^= 0x5a;
  write_bytes(dir / "faces.hnsw", bytes);
  lib = Library::open(dir);
  check = lib->check();
  EXPECT_TRUE(check.catalog_ok());
  EXPECT_FALSE(check.index_loadable);
  EXPECT_FALSE(check.index_error.empty());
  EXPECT_FALSE(check.ok());
  index = lib->vector_index();
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kRebuilt);
  EXPECT_FALSE(lib->index_state().reason.empty());
  EXPECT_EQ(index->size(), 2u);
  const std::int64_t a = face_ids_of(lib->catalog(), photos / "a.jpg").at(0);
  const SearchResult found = search_face(*lib, recognizer(), stored(*lib, a));
  ASSERT_FALSE(found.hits.empty());
  EXPECT_EQ(found.hits[0].face_id, a);
  expect_sound(*lib);

  // Index file gone altogether.
  lib.reset();
  fs::remove(dir / "faces.hnsw");
  lib = Library::open(dir);
  EXPECT_FALSE(lib->check().index_file_present);
  ASSERT_NE(lib->vector_index(), nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kRebuilt);
  expect_sound(*lib);
}

// A library indexed with other recognition models (here: a query whose fused
// vector has another length, as after a change of the ensemble's members)
// answers with a note that says what to do, not with an error or a wrong hit.
TEST_F(LibraryIndexRepair, QueryFromOtherModelsGetsANote) {
  const testing::TempDir temp("repair_models");
  const fs::path photos = temp.path() / "photos";
  const fs::path dir = temp.path() / "library";
  copy_photo(lfw_image("Colin_Powell", 1), photos / "a.jpg");
  auto lib = Library::open(dir);
  ASSERT_EQ(run(*lib, photos).faces_added, 1u);
  match::FaceDescription query = describe_file(lfw_image("Colin_Powell", 1));
  ASSERT_FALSE(search_face(*lib, recognizer(), query).hits.empty());
  query.fused.resize(query.fused.size() / 2);
  const SearchResult other = search_face(*lib, recognizer(), query);
  EXPECT_TRUE(other.hits.empty());
  EXPECT_NE(other.note.find("new library"), std::string::npos) << other.note;
}

// No faces, no index: an empty library, one holding only failed files, and
// one whose faces were all pruned (the saved index is then removed).
TEST_F(LibraryIndexRepair, CatalogWithoutFacesHasNoIndex) {
  const testing::TempDir temp("repair_empty");
  const fs::path photos = temp.path() / "photos";
  const fs::path dir = temp.path() / "library";
  auto lib = Library::open(dir);
  EXPECT_EQ(lib->vector_index(), nullptr);
  EXPECT_EQ(lib->index_state().source, IndexState::Source::kEmpty);
  EXPECT_TRUE(lib->check().ok());
  const SearchResult nothing =
      search_face(*lib, recognizer(), describe_file(lfw_image("Colin_Powell", 1)));
  EXPECT_TRUE(nothing.hits.empty());
  EXPECT_FALSE(nothing.note.empty());

  write_bytes(photos / "empty.jpg", {});
  std::ofstream(photos / "notes.txt") << "text\n";
  lib = Library::open(dir);
  const IndexSummary s = run(*lib, photos);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(lib->vector_index(), nullptr);
  EXPECT_FALSE(fs::exists(lib->index_file()));
  EXPECT_TRUE(lib->check().ok());

  copy_photo(lfw_image("Colin_Powell", 1), photos / "a.jpg");
  lib = Library::open(dir);
  ASSERT_EQ(run(*lib, photos).faces_added, 1u);
  EXPECT_TRUE(fs::exists(lib->index_file()));
  fs::remove(photos / "a.jpg");
  ASSERT_EQ(run(*lib, photos, pruning()).pruned, 1u);
  lib = Library::open(dir);
  EXPECT_EQ(lib->vector_index(), nullptr);
  EXPECT_FALSE(fs::exists(lib->index_file()));
  EXPECT_TRUE(lib->check().ok());
}

// A save killed half-way leaves temporary files beside the index: opening the
// library removes those older than an hour and leaves a recent one (which may
// belong to a save still running in another process).
TEST(LibraryOpen, RemovesAbandonedIndexTemporaries) {
  const testing::TempDir temp("library_temporaries");
  const fs::path dir = temp.path() / "library";
  Library::open(dir);
  const fs::path old_index = dir / "faces.hnsw.tmp12345";
  const fs::path old_stamp = dir / "faces.hnsw.stamp.tmp678";
  const fs::path recent = dir / "faces.hnsw.tmp999";
  const fs::path other = dir / "notes.tmp1";
  for (const fs::path& file : {old_index, old_stamp, recent, other}) {
    std::ofstream(file) << "partial";
  }
  const auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  for (const fs::path& file : {old_index, old_stamp, other}) {
    fs::last_write_time(file, two_hours_ago);
  }
  Library::open(dir);
  EXPECT_FALSE(fs::exists(old_index));
  EXPECT_FALSE(fs::exists(old_stamp));
  EXPECT_TRUE(fs::exists(recent));
  EXPECT_TRUE(fs::exists(other));  // not ours
}

// library_path: absolute and lexically normal, symlinks kept, no trailing
// slash.
TEST(LibraryPath, AbsoluteNormalAndWithoutTrailingSlash) {
  const fs::path cwd = fs::current_path();
  EXPECT_EQ(library_path("a/./b/../c.jpg"), (cwd / "a" / "c.jpg").string());
  EXPECT_EQ(library_path("/photos/2024/"), "/photos/2024");
  EXPECT_EQ(library_path("/photos//x/../y.jpg"), "/photos/y.jpg");
  EXPECT_EQ(library_path("/"), "/");
}

// Sets or unsets environment variables for one scope, restoring them after.
class EnvGuard {
 public:
  void set(const char* name, const std::optional<std::string>& value) {
    if (saved_.count(name) == 0) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    apply(name, value);
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) apply(name.c_str(), value);
  }

 private:
  static void apply(const char* name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(LibraryDefaultDir, LikenessLibraryThenXdgDataHomeThenHome) {
  EnvGuard env;
  env.set("LIKENESS_LIBRARY", "/srv/faces");
  env.set("XDG_DATA_HOME", "/xdg");
  env.set("HOME", "/home/ada");
  EXPECT_EQ(default_library_dir(), fs::path("/srv/faces"));
  env.set("LIKENESS_LIBRARY", "");  // empty counts as unset
  EXPECT_EQ(default_library_dir(), fs::path("/xdg/likeness/library"));
  env.set("LIKENESS_LIBRARY", std::nullopt);
  EXPECT_EQ(default_library_dir(), fs::path("/xdg/likeness/library"));
  env.set("XDG_DATA_HOME", "");
  EXPECT_EQ(default_library_dir(), fs::path("/home/ada/.local/share/likeness/library"));
  env.set("XDG_DATA_HOME", std::nullopt);
  EXPECT_EQ(default_library_dir(), fs::path("/home/ada/.local/share/likeness/library"));
  env.set("HOME", std::nullopt);
  EXPECT_THROW(default_library_dir(), UsageError);
  env.set("LIKENESS_LIBRARY", "/srv/faces");
  EXPECT_EQ(default_library_dir(), fs::path("/srv/faces"));  // HOME not needed then
}

// The people edits on a catalog with hand-made faces (no models needed).
class LibraryPeople : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog_ = store::Catalog::open(temp_.path());
    store::Photo photo;
    photo.path = "/photos/group.jpg";
    photo.content_hash = std::string(64, 'a');
    const std::int64_t photo_id = catalog_->upsert_photo(photo);
    for (int i = 0; i < 6; ++i) {
      store::Face face;
      face.photo_id = photo_id;
      face.box = {10.0f * static_cast<float>(i), 0.0f, 8.0f, 8.0f};
      faces_.push_back(catalog_->add_face(face, {}));
    }
  }

  std::map<std::int64_t, LinkOrigin> links(std::int64_t person) {
    std::map<std::int64_t, LinkOrigin> out;
    for (const store::FacePersonLink& l : catalog_->faces_of_person(person)) {
      out[l.face_id] = l.origin;
    }
    return out;
  }
  std::int64_t person_with(std::optional<std::string> name,
                           const std::map<std::int64_t, LinkOrigin>& links) {
    const std::int64_t id = catalog_->create_person(std::move(name));
    for (const auto& [face, origin] : links) catalog_->link_face(face, id, origin);
    return id;
  }

  testing::TempDir temp_{"people"};
  std::unique_ptr<store::Catalog> catalog_;
  std::vector<std::int64_t> faces_;
};

TEST_F(LibraryPeople, NamingConfirmsTheAutomaticLinks) {
  const auto f = faces_;
  const std::int64_t p = person_with({}, {{f[0], LinkOrigin::kAutomatic},
                                          {f[1], LinkOrigin::kAutomatic},
                                          {f[2], LinkOrigin::kRejected}});
  name_person(*catalog_, p, "Ada");
  EXPECT_EQ(catalog_->find_person(p)->name, std::optional<std::string>("Ada"));
  const std::map<std::int64_t, LinkOrigin> expected{{f[0], LinkOrigin::kConfirmed},
                                                    {f[1], LinkOrigin::kConfirmed},
                                                    {f[2], LinkOrigin::kRejected}};
  EXPECT_EQ(links(p), expected);
  EXPECT_THROW(name_person(*catalog_, p, ""), UsageError);
  EXPECT_THROW(name_person(*catalog_, p + 100, "Bob"), UsageError);
  EXPECT_EQ(person_label(*catalog_->find_person(p)), "Ada (#" + std::to_string(p) + ")");
}

TEST_F(LibraryPeople, MergeMovesLinksAndKeepsRejections) {
  const auto f = faces_;
  const std::int64_t keep = person_with({}, {{f[0], LinkOrigin::kConfirmed},
                                             {f[1], LinkOrigin::kRejected},
                                             {f[5], LinkOrigin::kAutomatic}});
  const std::int64_t other = person_with("Bob", {{f[1], LinkOrigin::kAutomatic},
                                                 {f[2], LinkOrigin::kAutomatic},
                                                 {f[3], LinkOrigin::kRejected},
                                                 {f[4], LinkOrigin::kConfirmed}});
  merge_people(*catalog_, keep, other);
  EXPECT_FALSE(catalog_->find_person(other).has_value());
  EXPECT_TRUE(catalog_->faces_of_person(other).empty());
  EXPECT_EQ(catalog_->find_person(keep)->name, std::optional<std::string>("Bob"));
  const std::map<std::int64_t, LinkOrigin> expected{
      {f[0], LinkOrigin::kConfirmed}, {f[1], LinkOrigin::kRejected},
      {f[2], LinkOrigin::kConfirmed}, {f[3], LinkOrigin::kRejected},
      {f[4], LinkOrigin::kConfirmed}, {f[5], LinkOrigin::kConfirmed}};
  EXPECT_EQ(links(keep), expected);
  // person_faces leaves the rejected ones out.
  std::set<std::int64_t> shown;
  for (const PersonFace& pf : person_faces(*catalog_, keep)) shown.insert(pf.face.id);
  EXPECT_EQ(shown, (std::set<std::int64_t>{f[0], f[2], f[4], f[5]}));
  EXPECT_THROW(merge_people(*catalog_, keep, keep), UsageError);
  EXPECT_THROW(merge_people(*catalog_, keep, other), UsageError);  // other is gone
  // A named keeper keeps its own name.
  const std::int64_t carl = person_with("Carl", {});
  const std::int64_t dan = person_with("Dan", {{f[5], LinkOrigin::kAutomatic}});
  merge_people(*catalog_, carl, dan);
  EXPECT_EQ(catalog_->find_person(carl)->name, std::optional<std::string>("Carl"));
  EXPECT_EQ(links(carl), (std::map<std::int64_t, LinkOrigin>{{f[5], LinkOrigin::kConfirmed}}));
}

TEST_F(LibraryPeople, MergeKeepsTheKeptPersonsOwnWordAboutAFace) {
  // The kept person's confirmation of a face beats the merged person's
  // rejection of it, and its rejection beats the merged person's confirmation.
  const auto f = faces_;
  const std::int64_t keep =
      person_with("Ada", {{f[0], LinkOrigin::kConfirmed}, {f[1], LinkOrigin::kRejected}});
  const std::int64_t other =
      person_with({}, {{f[0], LinkOrigin::kRejected}, {f[1], LinkOrigin::kConfirmed}});
  merge_people(*catalog_, keep, other);
  EXPECT_EQ(links(keep), (std::map<std::int64_t, LinkOrigin>{{f[0], LinkOrigin::kConfirmed},
                                                             {f[1], LinkOrigin::kRejected}}));
}

TEST_F(LibraryPeople, SplitMovesFacesToANewPerson) {
  const auto f = faces_;
  const std::int64_t p = person_with("Ada", {{f[0], LinkOrigin::kAutomatic},
                                             {f[1], LinkOrigin::kConfirmed},
                                             {f[2], LinkOrigin::kAutomatic},
                                             {f[3], LinkOrigin::kRejected}});
  const std::int64_t q = split_person(*catalog_, p, {f[1], f[2]}, "Eve");
  EXPECT_NE(q, p);
  EXPECT_EQ(catalog_->find_person(q)->name, std::optional<std::string>("Eve"));
  EXPECT_EQ(links(q), (std::map<std::int64_t, LinkOrigin>{{f[1], LinkOrigin::kConfirmed},
                                                          {f[2], LinkOrigin::kConfirmed}}));
  EXPECT_EQ(links(p), (std::map<std::int64_t, LinkOrigin>{{f[0], LinkOrigin::kAutomatic},
                                                          {f[1], LinkOrigin::kRejected},
                                                          {f[2], LinkOrigin::kRejected},
                                                          {f[3], LinkOrigin::kRejected}}));
  ASSERT_EQ(person_faces(*catalog_, p).size(), 1u);
  EXPECT_EQ(person_faces(*catalog_, p)[0].face.id, f[0]);
  // Only the person's own (not rejected) faces can be split off.
  EXPECT_THROW(split_person(*catalog_, p, {f[3]}), UsageError);
  EXPECT_THROW(split_person(*catalog_, p, {f[5]}), UsageError);
  EXPECT_THROW(split_person(*catalog_, p, {}), UsageError);
  const std::size_t people = catalog_->list_people().size();
  EXPECT_THROW(split_person(*catalog_, p, {f[0], f[5]}), UsageError);
  EXPECT_EQ(catalog_->list_people().size(), people);  // nothing half done
  const std::int64_t unnamed = split_person(*catalog_, p, {f[0]});
  EXPECT_FALSE(catalog_->find_person(unnamed)->name.has_value());
}

TEST_F(LibraryPeople, RejectAndConfirmFaces) {
  const auto f = faces_;
  const std::int64_t p = person_with({}, {{f[0], LinkOrigin::kAutomatic}});
  const std::int64_t q = person_with({}, {{f[1], LinkOrigin::kRejected}});
  const std::int64_t r = person_with({}, {{f[0], LinkOrigin::kRejected}});
  reject_face(*catalog_, f[0], p);
  EXPECT_EQ(links(p), (std::map<std::int64_t, LinkOrigin>{{f[0], LinkOrigin::kRejected}}));
  EXPECT_TRUE(person_faces(*catalog_, p).empty());
  EXPECT_THROW(reject_face(*catalog_, f[5] + 100, p), UsageError);
  EXPECT_THROW(reject_face(*catalog_, f[0], r + 100), UsageError);

  // Confirming f[2] as q after it was p's: one person per face, rejections stay.
  catalog_->link_face(f[2], p, LinkOrigin::kAutomatic);
  catalog_->link_face(f[2], r, LinkOrigin::kRejected);
  confirm_face(*catalog_, f[2], q);
  std::map<std::int64_t, LinkOrigin> people_of_f2;
  for (const store::FacePersonLink& l : catalog_->people_of_face(f[2])) {
    people_of_f2[l.person_id] = l.origin;
  }
  EXPECT_EQ(people_of_f2, (std::map<std::int64_t, LinkOrigin>{{q, LinkOrigin::kConfirmed},
                                                              {r, LinkOrigin::kRejected}}));
  // Confirming a rejected face turns the rejection into a confirmation.
  confirm_face(*catalog_, f[1], q);
  EXPECT_EQ(links(q)[f[1]], LinkOrigin::kConfirmed);
  EXPECT_THROW(confirm_face(*catalog_, f[5] + 100, q), UsageError);
  EXPECT_THROW(confirm_face(*catalog_, f[1], q + 100), UsageError);
}

TEST_F(LibraryPeople, FindPersonByNameOrIdAndAmbiguity) {
  const std::int64_t a1 = person_with("Ada", {});
  const std::int64_t a2 = person_with("Ada", {});
  const std::int64_t b = person_with("Bob", {});
  EXPECT_EQ(find_person(*catalog_, "Bob").id, b);
  EXPECT_EQ(find_person(*catalog_, std::to_string(a1)).id, a1);
  EXPECT_EQ(find_person(*catalog_, "#" + std::to_string(a2)).id, a2);
  EXPECT_EQ(find_people(*catalog_, "Ada").size(), 2u);
  try {
    find_person(*catalog_, "Ada");
    ADD_FAILURE() << "two people called Ada must be UsageError";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("#" + std::to_string(a1)), std::string::npos) << message;
    EXPECT_NE(message.find("#" + std::to_string(a2)), std::string::npos) << message;
  }
  EXPECT_THROW(find_person(*catalog_, "Nobody"), UsageError);
  EXPECT_THROW(find_person(*catalog_, "#999"), UsageError);
  EXPECT_TRUE(find_people(*catalog_, "ada").empty());  // names are exact
}

}  // namespace
}  // namespace likeness::library
