// SPDX-License-Identifier: MIT
#include "common/log.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace {

std::string logged(const std::string& message) {
  std::FILE* sink = std::tmpfile();
  REQUIRE(sink != nullptr);
  pnsync::Log log(pnsync::LogLevel::Info, sink);
  log.warning(message);
  std::rewind(sink);
  std::string text;
  char buffer[4096];
  while (std::size_t got = std::fread(buffer, 1, sizeof buffer, sink)) text.append(buffer, got);
  std::fclose(sink);
  return text;
}

}  // namespace

TEST_CASE("a log message stays one line, whatever names it carries", "[log]") {
  // A listing entry named to forge a line of pnsyncd's own and to clear the screen.
  const std::string text = logged("files/a.dcm\n12:00:00 error: fake\x1b[2J: refused");
  CHECK(text.find('\n') == text.size() - 1);  // only the line's own end
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("files/a.dcm\\n12:00:00 error: fake\\x1b[2J: refused") != std::string::npos);
}
