// Encryption at rest (store/encryption.h): an encrypted catalog keeps nothing
// readable on disk, opens only with its passphrase, survives its write-ahead
// log being left behind (a crash), vacuums, and an existing catalog can be
// encrypted in place; an encrypted library keeps its vector index in memory;
// a library of the old format (AES-256-XTS) is refused until it is upgraded,
// and the upgrade keeps every row and survives being interrupted. Tamper
// evidence is tested in store_tamper_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/library/library.h"
#include "likeness/store/catalog.h"
#include "likeness/store/encryption.h"
#include "support/file_scan.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using likeness::UsageError;
using likeness::store::Catalog;
using likeness::store::CatalogKey;
using likeness::store::CatalogOptions;
using likeness::store::Face;
using likeness::store::FaceVector;
using likeness::store::LockedCatalogError;
using likeness::store::PageFormat;
using likeness::store::Photo;
using likeness::store::PhotoStatus;
using likeness::store::StoreError;
using likeness::testing::files_containing;
using likeness::testing::float_bytes;
using likeness::testing::read_all_files;

namespace {

constexpr const char* kPassphrase = "correct horse battery staple";

CatalogOptions with_passphrase(std::string passphrase, bool create_encrypted = false) {
  CatalogOptions options;
  options.passphrase = std::move(passphrase);
  options.encrypt_new_catalog = create_encrypted;
  return options;
}

// Marker text no page of an encrypted file may show.
std::string marker_path(int i) { return "/photos/PLAINTEXT-MARKER-" + std::to_string(i) + ".jpg"; }

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Written {
  std::vector<std::vector<float>> vectors;
};

// `count` photos, one face each with a 512-d fused vector: several hundred
// pages, so that the log and checkpoints are exercised.
Written fill(Catalog& catalog, int count, int first = 0) {
  Written written;
  likeness::store::Transaction batch(catalog);
  for (int i = first; i < first + count; ++i) {
    Photo photo;
    photo.path = marker_path(i);
    photo.content_hash = std::string(64, 'c');
    photo.status = PhotoStatus::kIndexed;
    const std::int64_t photo_id = catalog.upsert_photo(photo);
    Face face;
    face.photo_id = photo_id;
    face.box = {1, 2, 3, 4};
    face.attributes = R"({"age":{"years":42.5,"low":37,"high":48},"MARKER":"SECRET-ATTRIBUTE"})";
    written.vectors.push_back(random_vector(512, static_cast<unsigned>(i) + 1));
    const std::vector<FaceVector> vectors = {{"fused", written.vectors.back()}};
    catalog.add_face(face, vectors);
  }
  batch.commit();
  return written;
}

// Asserts that no file in dir shows the markers or any 32-byte piece of the
// vectors' bytes.
void expect_nothing_readable(const fs::path& dir, const Written& written) {
  const auto files = read_all_files(dir);
  ASSERT_FALSE(files.empty());
  EXPECT_TRUE(files_containing(files, "PLAINTEXT-MARKER").empty());
  EXPECT_TRUE(files_containing(files, "SECRET-ATTRIBUTE").empty());
  EXPECT_TRUE(files_containing(files, "CREATE TABLE").empty()) << "the schema is readable";
  EXPECT_TRUE(files_containing(files, "SQLite format 3").empty()) << "page 1 is in the clear";
  for (const auto& v : written.vectors) {
    const std::vector<fs::path> found = files_containing(files, float_bytes(v).substr(64, 32));
    ASSERT_TRUE(found.empty()) << "a vector is readable in " << found.front();
  }
}

TEST(StoreEncryption, NothingOfTheCatalogIsReadableOnDisk) {
  likeness::testing::TempDir dir("encryption");
  Written written;
  {
    auto catalog = Catalog::open(dir.path(), with_passphrase(kPassphrase, true));
    EXPECT_TRUE(catalog->encrypted());
    written = fill(*catalog, 300);
    // While open: the catalog file and its log.
    expect_nothing_readable(dir.path(), written);
  }
  // Closed (checkpointed): the catalog file alone, plus the key file.
  expect_nothing_readable(dir.path(), written);
  const auto files = read_all_files(dir.path());
  EXPECT_TRUE(files_containing(files, kPassphrase).empty()) << "the passphrase is on disk";
  EXPECT_TRUE(fs::exists(dir.path() / "catalog.key"));

  // The same checks would pass on a catalog that stores nothing: it does.
  auto reopened = Catalog::open(dir.path(), with_passphrase(kPassphrase));
  ASSERT_EQ(reopened->face_count(), 300);
  const auto photo = reopened->find_photo(marker_path(123));
  ASSERT_TRUE(photo.has_value());
  const auto faces = reopened->faces_of_photo(photo->id);
  ASSERT_EQ(faces.size(), 1u);
  const auto vectors = reopened->vectors_of_face(faces[0].id);
  ASSERT_EQ(vectors.size(), 1u);
  EXPECT_EQ(vectors[0].values, written.vectors[123]);
  EXPECT_TRUE(reopened->check().ok());
}

TEST(StoreEncryption, OpensOnlyWithItsPassphrase) {
  likeness::testing::TempDir dir("encryption");
  { fill(*Catalog::open(dir.path(), with_passphrase(kPassphrase, true)), 3); }
  EXPECT_TRUE(likeness::store::catalog_is_encrypted(dir.path()));
  EXPECT_THROW(Catalog::open(dir.path()), LockedCatalogError);
  try {
    Catalog::open(dir.path(), with_passphrase("wrong horse"));
    FAIL() << "a wrong passphrase opened the catalog";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("wrong passphrase"), std::string::npos)
        << error.what();
  }
  // Plain SQLite sees no database in it.
  EXPECT_EQ(Catalog::open(dir.path(), with_passphrase(kPassphrase))->face_count(), 3);
}

TEST(StoreEncryption, PassphraseForAnUnencryptedCatalogIsRefused) {
  likeness::testing::TempDir dir("encryption");
  { fill(*Catalog::open(dir.path()), 2); }
  EXPECT_FALSE(likeness::store::catalog_is_encrypted(dir.path()));
  EXPECT_THROW(Catalog::open(dir.path(), with_passphrase(kPassphrase)), StoreError);
  EXPECT_THROW(Catalog::open(dir.path(), with_passphrase(kPassphrase, true)), StoreError);
  EXPECT_THROW(Catalog::open(dir.path() / "new", with_passphrase("", true)), UsageError);
}

TEST(StoreEncryption, TheLogOfAnUncleanExitIsRecovered) {
  // A copy of the folder taken while a connection has committed into the log
  // but not checkpointed is what a crash leaves; opening the copy must
  // replay the encrypted log frames.
  likeness::testing::TempDir dir("encryption");
  likeness::testing::TempDir copy("encryption_copy");
  auto catalog = Catalog::open(dir.path(), with_passphrase(kPassphrase, true));
  const Written written = fill(*catalog, 120);
  ASSERT_TRUE(fs::exists(dir.path() / "catalog.sqlite-wal"));
  ASSERT_GT(fs::file_size(dir.path() / "catalog.sqlite-wal"), 0u);
  for (const char* name : {"catalog.sqlite", "catalog.sqlite-wal", "catalog.key"}) {
    fs::copy_file(dir.path() / name, copy.path() / name);
  }
  auto recovered = Catalog::open(copy.path(), with_passphrase(kPassphrase));
  EXPECT_EQ(recovered->face_count(), 120);
  EXPECT_TRUE(recovered->check().ok());
  const auto photo = recovered->find_photo(marker_path(77));
  ASSERT_TRUE(photo.has_value());
  EXPECT_EQ(recovered->vectors_of_face(recovered->faces_of_photo(photo->id)[0].id)[0].values,
            written.vectors[77]);
}

TEST(StoreEncryption, ErasingAndVacuumingWorkEncrypted) {
  likeness::testing::TempDir dir("encryption");
  auto catalog = Catalog::open(dir.path(), with_passphrase(kPassphrase, true));
  const Written written = fill(*catalog, 200);
  for (const Photo& photo : catalog->list_photos()) {
    if (photo.id % 2 == 0) catalog->delete_photo(photo.id);
  }
  catalog->purge_deleted();  // checkpoint, VACUUM (temporary data in memory), checkpoint
  EXPECT_EQ(catalog->face_count(), 100);
  EXPECT_TRUE(catalog->check().ok());
  // A sort too large for an index: would need a temporary file on disk
  // unless temporary data stays in memory (the VFS refuses such files).
  EXPECT_EQ(catalog->list_photos().size(), 100u);
  catalog.reset();
  expect_nothing_readable(dir.path(), written);
  EXPECT_EQ(Catalog::open(dir.path(), with_passphrase(kPassphrase))->face_count(), 100);
}

TEST(StoreEncryption, AnExistingCatalogIsEncryptedInPlace) {
  likeness::testing::TempDir dir("encryption");
  Written written;
  std::int64_t person = 0;
  {
    auto catalog = Catalog::open(dir.path());
    written = fill(*catalog, 150);
    person = catalog->create_person(std::string("Ada"));
    catalog->add_audit_entry("rename", R"({"people":1})");
  }
  ASSERT_FALSE(files_containing(read_all_files(dir.path()), "PLAINTEXT-MARKER").empty())
      << "the unencrypted catalog should show its paths (else this test proves nothing)";
  const auto report = likeness::store::encrypt_catalog(dir.path(), kPassphrase);
  EXPECT_GT(report.rows_copied, 300);
  EXPECT_GT(report.plain_bytes_overwritten, 0u);
  expect_nothing_readable(dir.path(), written);
  EXPECT_FALSE(fs::exists(dir.path() / "catalog.sqlite.encrypting"));
  EXPECT_FALSE(fs::exists(dir.path() / "catalog.key.new"));
  auto catalog = Catalog::open(dir.path(), with_passphrase(kPassphrase));
  EXPECT_TRUE(catalog->encrypted());
  EXPECT_EQ(catalog->face_count(), 150);
  EXPECT_EQ(catalog->list_people().size(), 1u);
  EXPECT_EQ(catalog->find_person(person)->name, "Ada");
  EXPECT_EQ(catalog->audit_log().size(), 1u);
  EXPECT_TRUE(catalog->check().ok());
  EXPECT_THROW(likeness::store::encrypt_catalog(dir.path(), kPassphrase), StoreError);
}

TEST(StoreEncryption, AnEncryptedLibrarySavesItsIndexSealed) {
  likeness::testing::TempDir dir("encryption");
  Written written;
  {
    likeness::library::LibraryOptions options;
    options.passphrase = kPassphrase;
    options.encrypt_if_created = true;
    auto library = likeness::library::Library::open(dir.path(), options);
    written = fill(library->catalog(), 50);
    ASSERT_NE(library->vector_index(), nullptr);
    EXPECT_EQ(library->vector_index()->size(), 50u);
    library->save_index();
    EXPECT_TRUE(library->check().ok());
  }
  EXPECT_FALSE(fs::exists(dir.path() / "faces.hnsw"));
  EXPECT_FALSE(fs::exists(dir.path() / "faces.hnsw.stamp"));
  ASSERT_TRUE(fs::exists(dir.path() / "faces.hnsw.sealed"));
  expect_nothing_readable(dir.path(), written);

  likeness::library::LibraryOptions options;
  options.passphrase = kPassphrase;
  options.create_if_missing = false;
  {
    auto library = likeness::library::Library::open(dir.path(), options);
    const auto hits = library->vector_index()->search(written.vectors[7], 1);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(library->index_state().source, likeness::library::IndexState::Source::kLoaded)
        << library->index_state().reason;
    EXPECT_TRUE(library->check().ok());
  }
  // A changed byte: the authentication fails and the index is rebuilt.
  {
    std::fstream file(dir.path() / "faces.hnsw.sealed",
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(1000);
    char byte = 0;
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x20);
    file.seekp(1000);
    file.write(&byte, 1);
  }
  auto library = likeness::library::Library::open(dir.path(), options);
  EXPECT_FALSE(library->check().index_ok());
  ASSERT_NE(library->vector_index(), nullptr);
  EXPECT_EQ(library->index_state().source, likeness::library::IndexState::Source::kRebuilt);
  EXPECT_NE(library->index_state().reason.find("decrypted"), std::string::npos)
      << library->index_state().reason;
  EXPECT_EQ(library->vector_index()->search(written.vectors[7], 1).size(), 1u);
}

TEST(StoreEncryption, SealedBytesOpenOnlyWithTheirKeyAndPurpose) {
  likeness::testing::TempDir dir("encryption");
  const auto key = likeness::store::CatalogKey::create(dir.path() / "a.key", "one");
  const auto other = likeness::store::CatalogKey::create(dir.path() / "b.key", "two");
  const std::string plain = "face vectors " + std::string(5000, 'x');
  const std::string sealed = likeness::store::seal(plain, key, "vector index");
  EXPECT_EQ(sealed.find("face vectors"), std::string::npos);
  EXPECT_EQ(likeness::store::unseal(sealed, key, "vector index"), plain);
  EXPECT_FALSE(likeness::store::unseal(sealed, other, "vector index").has_value());
  EXPECT_FALSE(likeness::store::unseal(sealed, key, "something else").has_value());
  std::string changed = sealed;
  changed[changed.size() / 2] ^= 1;
  EXPECT_FALSE(likeness::store::unseal(changed, key, "vector index").has_value());
  EXPECT_FALSE(likeness::store::unseal(sealed.substr(0, 20), key, "vector index").has_value());
  // Two seals of the same bytes differ (a fresh nonce each time).
  EXPECT_NE(likeness::store::seal(plain, key, "vector index"), sealed);
}

// A plain library with rows in every table, then encrypted in the old format.
struct OldFormatLibrary {
  Written written;
  std::int64_t person = 0;
};
OldFormatLibrary make_old_format_library(const fs::path& dir) {
  OldFormatLibrary made;
  {
    auto catalog = Catalog::open(dir);
    made.written = fill(*catalog, 120);
    made.person = catalog->create_person(std::string("Ada"));
    catalog->link_face(catalog->all_faces().front().id, made.person,
                       likeness::store::LinkOrigin::kConfirmed);
    catalog->add_audit_entry("rename", R"({"people":1})");
    catalog->set_setting("retention", R"({"days":30})");
  }
  likeness::store::encrypt_catalog_as(dir, kPassphrase, PageFormat::kXts);
  return made;
}

nlohmann::json key_file_json(const fs::path& dir) {
  std::ifstream in(dir / "catalog.key");
  return nlohmann::json::parse(in);
}

// Every row of make_old_format_library(), as written.
void expect_every_row(Catalog& catalog, const OldFormatLibrary& made) {
  ASSERT_EQ(catalog.face_count(), 120);
  for (int i = 0; i < 120; ++i) {
    const auto photo = catalog.find_photo(marker_path(i));
    ASSERT_TRUE(photo.has_value()) << i;
    const auto faces = catalog.faces_of_photo(photo->id);
    ASSERT_EQ(faces.size(), 1u);
    const auto vectors = catalog.vectors_of_face(faces[0].id);
    ASSERT_EQ(vectors.size(), 1u);
    EXPECT_EQ(vectors[0].values, made.written.vectors[static_cast<std::size_t>(i)]) << i;
  }
  EXPECT_EQ(catalog.find_person(made.person)->name, "Ada");
  ASSERT_EQ(catalog.faces_of_person(made.person).size(), 1u);
  EXPECT_EQ(catalog.faces_of_person(made.person)[0].origin,
            likeness::store::LinkOrigin::kConfirmed);
  ASSERT_EQ(catalog.audit_log().size(), 1u);
  EXPECT_EQ(catalog.audit_log()[0].details, R"({"people":1})");
  EXPECT_EQ(catalog.setting("retention"), R"({"days":30})");
  EXPECT_TRUE(catalog.check().ok());
}

TEST(StoreEncryption, TheKeyFileRecordsThePageFormat) {
  likeness::testing::TempDir dir("encryption");
  { Catalog::open(dir.path(), with_passphrase(kPassphrase, true)); }
  const nlohmann::json current = key_file_json(dir.path());
  EXPECT_EQ(current["format"], "likeness-catalog-key-2");
  EXPECT_NE(current["cipher"].get<std::string>().find("aes-256-gcm"), std::string::npos);
  EXPECT_EQ(CatalogKey::format_of(dir.path() / "catalog.key"), PageFormat::kAuthenticated);
  EXPECT_EQ(CatalogKey::unlock(dir.path() / "catalog.key", kPassphrase).format(),
            PageFormat::kAuthenticated);

  likeness::testing::TempDir old_dir("encryption");
  make_old_format_library(old_dir.path());
  const nlohmann::json old = key_file_json(old_dir.path());
  EXPECT_EQ(old["format"], "likeness-catalog-key-1");
  EXPECT_EQ(old["cipher"], "aes-256-xts, 4096-byte pages");
  EXPECT_EQ(CatalogKey::format_of(old_dir.path() / "catalog.key"), PageFormat::kXts);
}

TEST(StoreEncryption, AnOldFormatLibraryIsRefusedUntilUpgradedAndKeepsEveryRow) {
  likeness::testing::TempDir dir("encryption");
  const OldFormatLibrary made = make_old_format_library(dir.path());
  expect_nothing_readable(dir.path(), made.written);
  try {
    Catalog::open(dir.path(), with_passphrase(kPassphrase));
    FAIL() << "a library of the old format opened";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("likeness library upgrade --library"),
              std::string::npos)
        << error.what();
  }
  // Readable for the upgrade, and refused with a wrong passphrase.
  expect_every_row(*likeness::store::open_old_format_catalog(dir.path(), kPassphrase), made);
  EXPECT_THROW(likeness::store::upgrade_catalog(dir.path(), "wrong horse"), StoreError);

  const auto report = likeness::store::upgrade_catalog(dir.path(), kPassphrase);
  EXPECT_GT(report.rows_copied, 240);
  EXPECT_GT(report.plain_bytes_overwritten, 0u);
  EXPECT_EQ(CatalogKey::format_of(dir.path() / "catalog.key"), PageFormat::kAuthenticated);
  EXPECT_FALSE(fs::exists(dir.path() / "catalog.sqlite.encrypting"));
  EXPECT_FALSE(fs::exists(dir.path() / "catalog.key.new"));
  expect_nothing_readable(dir.path(), made.written);
  {
    auto catalog = Catalog::open(dir.path(), with_passphrase(kPassphrase));
    expect_every_row(*catalog, made);
  }
  EXPECT_THROW(likeness::store::upgrade_catalog(dir.path(), kPassphrase), UsageError);
  // And now a changed byte is refused.
  {
    std::fstream file(dir.path() / "catalog.sqlite",
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(dir.path() / "catalog.sqlite") / 2));
    file.put('\x5a');
  }
  try {
    auto catalog = Catalog::open(dir.path(), with_passphrase(kPassphrase));
    catalog->check();
    FAIL() << "a changed byte was not noticed";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("failed authentication"), std::string::npos)
        << error.what();
  }
}

TEST(StoreEncryption, AnInterruptedUpgradeLeavesTheOldLibraryOrFinishes) {
  // Before the new key file's rename (the commit point): a copy and
  // catalog.key.new beside the old library. The old library stays as it
  // was, and the next upgrade starts over.
  likeness::testing::TempDir dir("encryption");
  const OldFormatLibrary made = make_old_format_library(dir.path());
  {
    std::ofstream junk(dir.path() / "catalog.sqlite.encrypting", std::ios::binary);
    junk << std::string(10000, 'j');
  }
  CatalogKey::create(dir.path() / "catalog.key.new", kPassphrase);
  EXPECT_THROW(Catalog::open(dir.path(), with_passphrase(kPassphrase)), StoreError);
  EXPECT_EQ(CatalogKey::format_of(dir.path() / "catalog.key"), PageFormat::kXts);
  expect_every_row(*likeness::store::open_old_format_catalog(dir.path(), kPassphrase), made);
  likeness::store::upgrade_catalog(dir.path(), kPassphrase);
  expect_every_row(*Catalog::open(dir.path(), with_passphrase(kPassphrase)), made);

  // After it: the new key file in place, the upgraded copy beside the old
  // catalog (a crash before the swap). The next open finishes the swap.
  likeness::testing::TempDir old_dir("encryption");
  likeness::testing::TempDir upgraded("encryption");
  const OldFormatLibrary made_again = make_old_format_library(old_dir.path());
  for (const char* name : {"catalog.sqlite", "catalog.key"}) {
    fs::copy_file(old_dir.path() / name, upgraded.path() / name);
  }
  likeness::store::upgrade_catalog(upgraded.path(), kPassphrase);
  fs::copy_file(upgraded.path() / "catalog.sqlite", old_dir.path() / "catalog.sqlite.encrypting");
  fs::copy_file(upgraded.path() / "catalog.key", old_dir.path() / "catalog.key",
                fs::copy_options::overwrite_existing);
  {
    auto catalog = Catalog::open(old_dir.path(), with_passphrase(kPassphrase));
    expect_every_row(*catalog, made_again);
  }
  EXPECT_FALSE(fs::exists(old_dir.path() / "catalog.sqlite.encrypting"));
  expect_nothing_readable(old_dir.path(), made_again.written);
}

TEST(StoreEncryption, TwoConnectionsShareAnEncryptedCatalogThroughRestartsOfTheLog) {
  // Each connection has its own VFS, which remembers the log header's salts;
  // the other one starts the log over (new salts) after its checkpoints.
  likeness::testing::TempDir dir("encryption");
  auto first = Catalog::open(dir.path(), with_passphrase(kPassphrase, true));
  auto second = Catalog::open(dir.path(), with_passphrase(kPassphrase));
  std::vector<std::vector<float>> vectors;
  for (int round = 0; round < 6; ++round) {
    Catalog& writer = round % 2 == 0 ? *first : *second;
    Catalog& reader = round % 2 == 0 ? *second : *first;
    // 400 photos with 512-float vectors: more than the 1000 frames after
    // which SQLite checkpoints, so the next round starts the log over.
    const Written written = fill(writer, 400, round * 400);
    vectors.insert(vectors.end(), written.vectors.begin(), written.vectors.end());
    ASSERT_EQ(reader.face_count(), (round + 1) * 400);
    for (int i = 0; i <= round * 400; i += 397) {
      const auto photo = reader.find_photo(marker_path(i));
      ASSERT_TRUE(photo.has_value()) << i;
      const auto faces = reader.faces_of_photo(photo->id);
      ASSERT_EQ(faces.size(), 1u);
      EXPECT_EQ(reader.vectors_of_face(faces[0].id)[0].values,
                vectors[static_cast<std::size_t>(i)]);
    }
  }
  EXPECT_TRUE(first->check().ok());
  EXPECT_TRUE(second->check().ok());
  first.reset();
  second.reset();
  EXPECT_EQ(Catalog::open(dir.path(), with_passphrase(kPassphrase))->face_count(), 2400);
}

}  // namespace
