// A small thread-safe least-recently-used cache with an entry limit and an
// age limit, for the server's in-memory state that must stay bounded: the
// faces of recent uploads and encoded face crops (biometric data that is
// never written to disk, so it must not pile up in memory either).
//
// Thread-safety: every member function may be called concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace likeness::server {

struct LruOptions {
  std::size_t max_entries = 16;
  // Entries older than this (since they were stored) are dropped; zero = no age limit.
  std::chrono::seconds max_age{0};
};

template <class Key, class Value>
class LruCache {
 public:
  explicit LruCache(const LruOptions& options = {}) : options_(options) {}

  // Stores (or replaces) key's value and makes it the most recent entry,
  // evicting the least recently used ones beyond max_entries.
  void put(const Key& key, std::shared_ptr<const Value> value) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto found = entries_.find(key); found != entries_.end()) {
      order_.erase(found->second.position);
      entries_.erase(found);
    }
    order_.push_front(key);
    entries_.emplace(key, Entry{std::move(value), Clock::now(), order_.begin()});
    while (entries_.size() > options_.max_entries && !order_.empty()) {
      entries_.erase(order_.back());
      order_.pop_back();
    }
  }

  // The value, or nullptr when absent or expired (an expired entry is dropped).
  // The value is shared: a reader keeps it alive even if it is evicted meanwhile.
  std::shared_ptr<const Value> get(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end()) return nullptr;
    if (options_.max_age.count() > 0 && Clock::now() - found->second.stored > options_.max_age) {
      order_.erase(found->second.position);
      entries_.erase(found);
      return nullptr;
    }
    order_.splice(order_.begin(), order_, found->second.position);
    return found->second.value;
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.clear();
    order_.clear();
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::shared_ptr<const Value> value;
    Clock::time_point stored;
    typename std::list<Key>::iterator position;
  };

  LruOptions options_;
  mutable std::mutex mutex_;
  std::list<Key> order_;  // most recent first
  std::map<Key, Entry> entries_;
};

}  // namespace likeness::server
