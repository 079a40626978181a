#include "likeness/core/crash_points.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>

namespace likeness {
namespace {

std::atomic<std::int64_t> g_crash_at{0};
std::atomic<std::int64_t> g_reached{0};
std::once_flag g_environment_read;

void read_environment() {
  std::call_once(g_environment_read, [] {
    const char* text = std::getenv("LIKENESS_CRASH_AT");
    if (text == nullptr || *text == '\0') return;
    char* end = nullptr;
    const long long n = std::strtoll(text, &end, 10);
    if (end != nullptr && *end == '\0' && n > 0) g_crash_at.store(n);
  });
}

}  // namespace

void crash_point(std::string_view /*where*/) {
  read_environment();
  const std::int64_t reached = g_reached.fetch_add(1) + 1;
  const std::int64_t at = g_crash_at.load();
  if (at > 0 && reached == at) std::raise(SIGKILL);
}

void arm_crash_at(std::int64_t n) {
  read_environment();  // so that a later first read cannot override this
  g_crash_at.store(n > 0 ? n : 0);
  g_reached.store(0);
}

bool crash_points_armed() {
  read_environment();
  return g_crash_at.load() > 0;
}

std::int64_t crash_points_reached() { return g_reached.load(); }

}  // namespace likeness
