#include "likeness/store/crash_counting_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>

#include "likeness/core/crash_points.h"

namespace likeness::store {
namespace {

sqlite3_vfs* g_base = nullptr;
sqlite3_vfs g_vfs{};

// Our header, then the base VFS's file right behind it.
struct CountingFile {
  sqlite3_file base;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
static_assert(sizeof(CountingFile) % 8 == 0);

sqlite3_file* real_of(sqlite3_file* file) { return reinterpret_cast<CountingFile*>(file)->real(); }

int x_close(sqlite3_file* file) { return real_of(file)->pMethods->xClose(real_of(file)); }
int x_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  return real_of(file)->pMethods->xRead(real_of(file), buffer, amount, offset);
}
int x_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  crash_point("sqlite: before a write");
  return real_of(file)->pMethods->xWrite(real_of(file), buffer, amount, offset);
}
int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  crash_point("sqlite: before a truncation");
  return real_of(file)->pMethods->xTruncate(real_of(file), size);
}
int x_sync(sqlite3_file* file, int flags) {
  crash_point("sqlite: before a sync");
  return real_of(file)->pMethods->xSync(real_of(file), flags);
}
int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  return real_of(file)->pMethods->xFileSize(real_of(file), size);
}
int x_lock(sqlite3_file* file, int level) {
  return real_of(file)->pMethods->xLock(real_of(file), level);
}
int x_unlock(sqlite3_file* file, int level) {
  return real_of(file)->pMethods->xUnlock(real_of(file), level);
}
int x_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_of(file)->pMethods->xCheckReservedLock(real_of(file), out);
}
int x_file_control(sqlite3_file* file, int op, void* arg) {
  return real_of(file)->pMethods->xFileControl(real_of(file), op, arg);
}
int x_sector_size(sqlite3_file* file) {
  return real_of(file)->pMethods->xSectorSize(real_of(file));
}
int x_device_characteristics(sqlite3_file* file) {
  return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}
int x_shm_map(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
  return real_of(file)->pMethods->xShmMap(real_of(file), page, size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return real_of(file)->pMethods->xShmLock(real_of(file), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) { real_of(file)->pMethods->xShmBarrier(real_of(file)); }
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  return real_of(file)->pMethods->xShmUnmap(real_of(file), delete_flag);
}

// Version 2: no memory-mapped I/O, so that every write passes x_write.
const sqlite3_io_methods kMethods = {
    2,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* f = reinterpret_cast<CountingFile*>(file);
  f->base.pMethods = nullptr;
  const int rc = g_base->xOpen(g_base, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

}  // namespace

void use_crash_counting_vfs_if_armed() {
  static std::once_flag registered;
  if (!crash_points_armed()) return;
  std::call_once(registered, [] {
    g_base = sqlite3_vfs_find(nullptr);
    if (g_base == nullptr) return;
    g_vfs = *g_base;
    g_vfs.iVersion = std::min(g_base->iVersion, 3);
    g_vfs.szOsFile = static_cast<int>(sizeof(CountingFile)) + g_base->szOsFile;
    g_vfs.pNext = nullptr;
    g_vfs.zName = "likeness-crash-points";
    g_vfs.pAppData = nullptr;
    g_vfs.xOpen = x_open;
    sqlite3_vfs_register(&g_vfs, 1);
  });
}

}  // namespace likeness::store
