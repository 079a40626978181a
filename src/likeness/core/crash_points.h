// Crash points: a test hook that kills the process at a chosen step of a
// write, so that tests can show what survives a kill -9 or a power cut at
// that step without relying on timing luck.
//
//   crash_point("erase: committed");   // in the code, between two steps
//
// Disarmed (the normal case) crash_point() only counts. Armed with
// arm_crash_at(n), or by the environment variable LIKENESS_CRASH_AT=n read
// at the first crash point, the n-th crash point reached (counting from 1)
// raises SIGKILL: nothing after it runs, no destructor, no flush, exactly as
// when the process is killed from outside. The catalog's embedded backend
// also counts every write, sync and truncation SQLite makes while armed
// (store/, its crash-counting VFS), so that a test can crash inside a commit,
// a checkpoint or a vacuum as well.
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace likeness {

// Counts a crash point and, when armed for this one, kills the process.
void crash_point(std::string_view where);

// 0 disarms (the default unless LIKENESS_CRASH_AT is set); resets the count.
void arm_crash_at(std::int64_t n);
// Whether crash points are armed (the environment is read on the first call).
bool crash_points_armed();
// Crash points reached since the last arm_crash_at() (or the process start).
std::int64_t crash_points_reached();

}  // namespace likeness
