// SPDX-License-Identifier: MIT
// The three listing dialects, byte for byte. The expected pages are written out by hand from the
// servers' sources (nginx ngx_http_autoindex_module.c, Apache mod_autoindex.c + apr_strfsize).
#include "tests/support/listing_render.hpp"

#include <catch2/catch.hpp>

using namespace pnsync::test;

namespace {

constexpr std::time_t kJan5 = 1704462300;   // 2024-01-05 13:45:00 UTC
constexpr std::time_t kNov30 = 1701331559;  // 2023-11-30 08:05:59 UTC

std::string spaces(std::size_t n) {
  return std::string(n, ' ');
}

std::vector<DirEntry> small_tree() {
  return {
      {"a b.txt", false, 6, kJan5},
      {"sub", true, 4096, kNov30},
      {"README.txt", false, 12345, kJan5},
      {".hidden", false, 1, kJan5},
  };
}

}  // namespace

TEST_CASE("nginx autoindex page", "[listing]") {
  const ListingPage page{"/files/demo/1.0/"};
  const std::string expected =
      "<html>\r\n<head><title>Index of /files/demo/1.0/</title></head>\r\n<body>\r\n"
      "<h1>Index of /files/demo/1.0/</h1><hr><pre><a href=\"../\">../</a>\r\n"
      "<a href=\"sub/\">sub/</a>" +
      spaces(46) + " 30-Nov-2023 08:05" + spaces(19) +
      "-\r\n"
      "<a href=\"README.txt\">README.txt</a>" +
      spaces(40) + " 05-Jan-2024 13:45" + spaces(15) +
      "12345\r\n"
      "<a href=\"a%20b.txt\">a b.txt</a>" +
      spaces(43) + " 05-Jan-2024 13:45" + spaces(19) +
      "6\r\n"
      "</pre><hr></body>\r\n</html>\r\n";
  CHECK(render_listing(ListingStyle::Nginx, page, small_tree()) == expected);
}

TEST_CASE("nginx cuts long names and escapes odd ones", "[listing]") {
  const std::string long_name = std::string(60, 'x') + ".dat";  // 64 characters
  const std::string dir49(49, 'd');                             // slash fits: 50 columns
  const std::string dir50(50, 'e');                             // slash does not fit
  const std::string utf8 = "\xc3\xa9t\xc3\xa9.txt";  // "été.txt": 7 characters, 9 bytes
  const std::vector<DirEntry> entries = {
      {long_name, false, 0, kJan5},     {dir49, true, 0, kJan5}, {dir50, true, 0, kJan5},
      {"<&>\"#?.txt", false, 1, kJan5}, {utf8, false, 2, kJan5},
  };
  const std::string html = render_listing(ListingStyle::Nginx, {"/files/demo/1.0/"}, entries);
  const std::string date = " 05-Jan-2024 13:45";

  CHECK_THAT(html, Catch::Contains("<a href=\"" + dir49 + "/\">" + dir49 + "/</a>" + date +
                                   spaces(19) + "-\r\n"));
  CHECK_THAT(html, Catch::Contains("<a href=\"" + dir50 + "/\">" + dir50 + "</a>" + date +
                                   spaces(19) + "-\r\n"));
  CHECK_THAT(html, Catch::Contains("<a href=\"" + long_name + "\">" + std::string(47, 'x') +
                                   "..&gt;</a>" + date + spaces(19) + "0\r\n"));
  CHECK_THAT(html,
             Catch::Contains("<a href=\"%3C%26%3E%22%23%3F.txt\">&lt;&amp;&gt;&quot;#?.txt</a>" +
                             spaces(40) + date + spaces(19) + "1\r\n"));
  // Padding counts characters, not bytes; the href escapes the UTF-8 bytes.
  CHECK_THAT(html,
             Catch::Contains("<a href=\"%C3%A9t%C3%A9.txt\">" + utf8 + "</a>" + spaces(43) + date));
  // Directories first, then byte order.
  CHECK(html.find(dir49) < html.find(dir50));
  CHECK(html.find(dir50) < html.find("%3C"));
  CHECK(html.find("%3C") < html.find(long_name));
  CHECK(html.find(long_name) < html.find("%C3"));  // 'x' < 0xC3
}

TEST_CASE("Apache 2.4 fancy index table", "[listing]") {
  const ListingPage page{"/files/demo/1.0/", "127.0.0.1", 8080};
  const std::string expected =
      "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"
      "<html>\n <head>\n  <title>Index of /files/demo/1.0</title>\n </head>\n <body>\n"
      "<h1>Index of /files/demo/1.0</h1>\n  <table>\n"
      "   <tr><th valign=\"top\"><img src=\"/icons/blank.gif\" alt=\"[ICO]\"></th>"
      "<th><a href=\"?C=N;O=D\">Name</a></th><th><a href=\"?C=M;O=A\">Last modified</a></th>"
      "<th><a href=\"?C=S;O=A\">Size</a></th><th><a href=\"?C=D;O=A\">Description</a></th></tr>\n"
      "   <tr><th colspan=\"5\"><hr></th></tr>\n"
      "<tr><td valign=\"top\"><img src=\"/icons/back.gif\" alt=\"[PARENTDIR]\"></td>"
      "<td><a href=\"/files/demo/\">Parent Directory</a></td><td>&nbsp;</td>"
      "<td align=\"right\">  - </td><td>&nbsp;</td></tr>\n"
      "<tr><td valign=\"top\"><img src=\"/icons/text.gif\" alt=\"[TXT]\"></td>"
      "<td><a href=\"README.txt\">README.txt</a></td><td align=\"right\">2024-01-05 13:45  </td>"
      "<td align=\"right\"> 12K</td><td>&nbsp;</td></tr>\n"
      "<tr><td valign=\"top\"><img src=\"/icons/text.gif\" alt=\"[TXT]\"></td>"
      "<td><a href=\"a%20b.txt\">a b.txt</a></td><td align=\"right\">2024-01-05 13:45  </td>"
      "<td align=\"right\">  6 </td><td>&nbsp;</td></tr>\n"
      "<tr><td valign=\"top\"><img src=\"/icons/folder.gif\" alt=\"[DIR]\"></td>"
      "<td><a href=\"sub/\">sub/</a></td><td align=\"right\">2023-11-30 08:05  </td>"
      "<td align=\"right\">  - </td><td>&nbsp;</td></tr>\n"
      "   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n"
      "<address>Apache/2.4.57 (Debian) Server at 127.0.0.1 Port 8080</address>\n</body></html>\n";
  CHECK(render_listing(ListingStyle::Apache, page, small_tree()) == expected);
}

TEST_CASE("Apache sizes follow apr_strfsize", "[listing]") {
  const auto size_cell = [](std::uint64_t size) {
    const std::string html =
        render_listing(ListingStyle::Apache, {"/d/"}, {{"f", false, size, kJan5}});
    const std::string before = "13:45  </td><td align=\"right\">";
    const auto at = html.find(before) + before.size();
    return html.substr(at, html.find("</td>", at) - at);
  };
  CHECK(size_cell(0) == "  0 ");
  CHECK(size_cell(972) == "972 ");
  CHECK(size_cell(973) == "1.0K");
  CHECK(size_cell(1536) == "1.5K");
  CHECK(size_cell(10 * 1024) == " 10K");
  CHECK(size_cell(5 * 1024 * 1024) == "5.0M");
  CHECK(size_cell(300ull * 1024 * 1024 * 1024) == "300G");
}

TEST_CASE("development server list", "[listing]") {
  CHECK(render_listing(ListingStyle::DevServer, {"/files/demo/1.0/"}, small_tree()) ==
        "<!DOCTYPE html><html><body><ul>"
        "<li><a href=\"sub\">sub</a></li>"
        "<li><a href=\"README.txt\">README.txt</a></li>"
        "<li><a href=\"a%20b.txt\">a b.txt</a></li>"
        "</ul></body></html>");
}
