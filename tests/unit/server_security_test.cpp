// The server's building blocks that need no models: the Host check that
// defeats DNS rebinding, the token helpers, and the bounded caches that hold
// uploads' faces and crops.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "likeness/server/lru_cache.h"
#include "likeness/server/security.h"

namespace likeness::server {
namespace {

TEST(ServerHostCheck, LoopbackBindingAcceptsOnlyLoopbackNamesWithItsPort) {
  const HostCheck check("127.0.0.1", 8080);
  EXPECT_TRUE(check.allows("127.0.0.1:8080"));
  EXPECT_TRUE(check.allows("localhost:8080"));
  EXPECT_TRUE(check.allows("LocalHost:8080"));
  EXPECT_TRUE(check.allows("[::1]:8080"));
  EXPECT_FALSE(check.allows("127.0.0.1:8081"));
  EXPECT_FALSE(check.allows("127.0.0.1"));  // port 80 only may be left out
  EXPECT_FALSE(check.allows("evil.example:8080"));
  EXPECT_FALSE(check.allows("localhost.evil.example:8080"));
  EXPECT_FALSE(check.allows("192.168.1.5:8080"));
  EXPECT_FALSE(check.allows(""));
  EXPECT_FALSE(check.allows("[::1:8080"));
}

TEST(ServerHostCheck, PortEightyMayBeLeftOut) {
  const HostCheck check("127.0.0.1", 80);
  EXPECT_TRUE(check.allows("localhost"));
  EXPECT_TRUE(check.allows("127.0.0.1:80"));
  EXPECT_FALSE(check.allows("evil.example"));
}

TEST(ServerHostCheck, RemoteBindingAcceptsItsAddress) {
  const HostCheck check("192.168.1.5", 9000);
  EXPECT_TRUE(check.allows("192.168.1.5:9000"));
  EXPECT_TRUE(check.allows("127.0.0.1:9000"));
  EXPECT_FALSE(check.allows("192.168.1.6:9000"));
  EXPECT_FALSE(check.allows("photos.example:9000"));
}

TEST(ServerHostCheck, WildcardBindingAcceptsAddressesButNoNames) {
  const HostCheck check("0.0.0.0", 9000);
  EXPECT_TRUE(check.allows("10.1.2.3:9000"));
  EXPECT_TRUE(check.allows("[fe80::1]:9000"));
  EXPECT_TRUE(check.allows("localhost:9000"));
  EXPECT_FALSE(check.allows("rebound.example:9000"));
  EXPECT_FALSE(check.allows("10.1.2.3:9001"));
}

TEST(ServerSecurity, LoopbackAndWildcardHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.3.2.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("192.168.0.1"));
  EXPECT_FALSE(is_loopback_host("localhost.example"));
  EXPECT_TRUE(is_wildcard_host("0.0.0.0"));
  EXPECT_TRUE(is_wildcard_host("::"));
  EXPECT_FALSE(is_wildcard_host("127.0.0.1"));
}

TEST(ServerSecurity, TokensAreRandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string token = random_hex(32);
    ASSERT_EQ(token.size(), 64u);
    EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos) << token;
    seen.insert(token);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(ServerSecurity, ConstantTimeEqualComparesWholeStrings) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal("a", ""));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(ServerLruCache, EvictsTheLeastRecentlyUsed) {
  LruCache<int, std::string> cache(LruOptions{2, std::chrono::seconds{0}});
  cache.put(1, std::make_shared<std::string>("one"));
  cache.put(2, std::make_shared<std::string>("two"));
  ASSERT_NE(cache.get(1), nullptr);  // 1 is now the most recent
  cache.put(3, std::make_shared<std::string>("three"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.get(2), nullptr);
  ASSERT_NE(cache.get(1), nullptr);
  EXPECT_EQ(*cache.get(1), "one");
  EXPECT_EQ(*cache.get(3), "three");
  cache.put(3, std::make_shared<std::string>("trois"));
  EXPECT_EQ(*cache.get(3), "trois");
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ServerLruCache, ExpiresOldEntries) {
  LruCache<int, int> cache(LruOptions{4, std::chrono::seconds{1}});
  cache.put(1, std::make_shared<int>(1));
  ASSERT_NE(cache.get(1), nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(cache.get(1), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace likeness::server
