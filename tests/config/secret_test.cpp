// SPDX-License-Identifier: MIT
// config::Secret (config/secret.hpp): the bytes of a password are gone from memory once the
// Secret that held them is destroyed, moved from or wiped. Each case looks at the real memory
// the string used: the object itself (short passwords live inside it) or a heap buffer the
// string still owns.
#include "config/secret.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>

using pnsync::config::Secret;

namespace {

// Whether `needle`, or all of it but its first byte, occurs in the `size` bytes at `bytes`: a
// clear() only writes a NUL over the first byte of a short string and leaves the rest.
bool holds(const void* bytes, std::size_t size, std::string_view needle) {
  const std::string_view memory(static_cast<const char*>(bytes), size);
  return memory.find(needle.substr(1)) != std::string_view::npos;
}

constexpr std::string_view kShort = "hunter2";  // fits libstdc++'s 15-byte inline buffer

}  // namespace

TEST_CASE("a destroyed Secret leaves no byte of the password in its storage", "[secrets]") {
  alignas(Secret) unsigned char storage[sizeof(Secret)];
  auto* secret = new (storage) Secret(std::string(kShort));
  REQUIRE(holds(storage, sizeof storage, kShort));  // inline: the test sees the real bytes
  std::destroy_at(secret);
  CHECK_FALSE(holds(storage, sizeof storage, kShort));
}

TEST_CASE("moving a Secret or a string into one leaves nothing behind in the source", "[secrets]") {
  SECTION("Secret from std::string&&") {
    std::string source(kShort);
    const Secret secret(std::move(source));
    CHECK(secret.view() == kShort);
    // The moved-from object's own bytes, on purpose: nothing of the password may stay there.
    // NOLINTNEXTLINE(bugprone-use-after-move,bugprone-sizeof-container)
    CHECK_FALSE(holds(&source, sizeof source, kShort));
  }
  SECTION("move construction") {
    Secret first{std::string(kShort)};
    const Secret second(std::move(first));
    CHECK(second.view() == kShort);
    CHECK_FALSE(holds(&first, sizeof first, kShort));  // NOLINT(bugprone-use-after-move)
  }
  SECTION("move assignment, over a password held before") {
    Secret first{std::string(kShort)};
    Secret second{std::string("old-pass")};
    second = std::move(first);
    CHECK(second.view() == kShort);
    CHECK_FALSE(holds(&first, sizeof first, kShort));  // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(holds(&second, sizeof second, "old-pass"));
  }
}

TEST_CASE("wipe() overwrites a heap buffer before letting it go", "[secrets]") {
  const std::string password(64, 'p');  // too long for the inline buffer: on the heap
  std::string held = password;
  const char* buffer = held.data();
  const std::size_t capacity = held.capacity();
  pnsync::config::wipe(held);
  // clear() keeps the allocation, so the bytes read here are still the string's own.
  REQUIRE(held.capacity() == capacity);
  REQUIRE(held.data() == buffer);
  CHECK(held.empty());
  CHECK_FALSE(holds(buffer, capacity, "pppp"));
}
