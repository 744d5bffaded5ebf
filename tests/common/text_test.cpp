// SPDX-License-Identifier: MIT
#include "common/text.hpp"

#include <catch2/catch.hpp>
#include <string>

using pnsync::printable;

TEST_CASE("printable escapes what could forge a log line or drive a terminal", "[common][text]") {
  auto [raw, shown] = GENERATE(table<std::string, std::string>({
      {"files/p10/s1.txt", "files/p10/s1.txt"},
      // A name that would end the line and start a fake one.
      {"a.dcm\n12:00:00 error: disk on fire", "a.dcm\\n12:00:00 error: disk on fire"},
      {"a\rb\tc", "a\\rb\\tc"},
      // ANSI: clear the screen, set the window title.
      {"\x1b[2J\x1b]0;owned\x07", "\\x1b[2J\\x1b]0;owned\\x07"},
      {std::string("nul\0byte", 8), "nul\\x00byte"},
      {"del\x7f", "del\\x7f"},
      // C1 CSI (U+009B) starts an escape sequence on some terminals; NEL (U+0085) a new line.
      {"csi\xc2\x9b"
       "31m",
       "csi\\u009b31m"},
      {"nel\xc2\x85", "nel\\u0085"},
      // Printable UTF-8 is kept: accents, CJK, emoji; U+00A0 is the first printable after C1.
      {"r\xc3\xa9sum\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 \xc2\xa0",
       "r\xc3\xa9sum\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 \xc2\xa0"},
      // Not UTF-8: a stray continuation byte, a truncated sequence, an overlong '/', a surrogate.
      {"\x80x", "\\x80x"},
      {"\xe4\xb8", "\\xe4\\xb8"},
      {"\xc0\xaf", "\\xc0\\xaf"},
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
      {"\xff", "\\xff"},
  }));
  CAPTURE(raw);
  CHECK(printable(raw) == shown);
}
