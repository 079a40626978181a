// While crash points are armed (core/crash_points.h), every write, sync and
// truncation SQLite makes to a catalog file is a crash point, so that tests
// can kill the process inside a commit, a checkpoint or a vacuum. The VFS
// wraps SQLite's default one and becomes the default itself, so the
// encrypting VFS (encryption.h), which writes through the default, is
// covered too. Never registered when crash points are not armed.
#pragma once

namespace likeness::store {

// Registers the crash-counting VFS once, if crash points are armed.
// Thread-safe.
void use_crash_counting_vfs_if_armed();

}  // namespace likeness::store
