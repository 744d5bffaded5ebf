// SPDX-License-Identifier: MIT
#include "daemon/disk/disk_space.hpp"

#include <catch2/catch.hpp>

using pnsync::FilesystemSpace;
using pnsync::shortage;

TEST_CASE("disk space: what remains must fit with a reserve", "[disk_space]") {
  constexpr std::int64_t GiB = std::int64_t{1} << 30;
  const FilesystemSpace big{310 * GiB, 2000 * GiB};  // reserve: 1 GiB (capped)
  CHECK_FALSE(shortage(0, big));
  CHECK_FALSE(shortage(309 * GiB, big));
  CHECK(shortage(1229 * GiB, big) == "needs 1.2 TiB, 310.0 GiB free");
  CHECK(shortage(310 * GiB, big));  // no room left for the reserve

  const FilesystemSpace small{900 << 10, 1 << 20};  // 1 MiB tmpfs: reserve 1% = 10 KiB
  CHECK_FALSE(shortage(800 << 10, small));
  CHECK(shortage(3 << 20, small));
}

TEST_CASE("disk space: statvfs of a real directory", "[disk_space]") {
  const auto space = pnsync::filesystem_space("/");
  REQUIRE(space);
  CHECK(space->size > 0);
  CHECK(space->available <= space->size);
  CHECK_FALSE(pnsync::filesystem_space("/no/such/directory/anywhere"));
}
