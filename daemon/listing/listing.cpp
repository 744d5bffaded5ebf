// SPDX-License-Identifier: MIT
// A listing page is hostile input that can be megabytes long. One forward pass of a small tag
// scanner (no regex, no backtracking, no recursion) collects the links with what surrounds them;
// then every href goes down the same funnel: HTML entities, link filters, percent-decoding,
// is_safe_segment. Only then can it name a file.
//
// The three dialects, as the servers write them:
//  - nginx autoindex (physionet.org): inside <pre>, one line per entry,
//      <a href="NAME">NAME</a>   DD-Mon-YYYY HH:MM   SIZE\r\n
//    with the date in GMT and SIZE the exact byte count, or "-" for a directory. Display names
//    over 50 characters are cut to 47 plus "..&gt;", so the name only ever comes from the href.
//  - Apache mod_autoindex: a <table> (HTMLTable, Debian's default) with a row per entry,
//    <tr><td><img></td><td><a href="NAME">NAME</a></td><td>YYYY-MM-DD HH:MM</td><td>SIZE</td>..,
//    or the same columns as text in a <pre> after an <img>. Times are the server's local time and
//    SIZE is "  - ", a plain byte count below 973 bytes, or rounded ("1.2K", " 18M").
//  - the PhysioNet development server: <ul><li><a href="NAME">NAME</a></li>..., directories
//    without the trailing slash.
#include "daemon/listing/listing.hpp"

#include "daemon/disk/safe_path.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pnsync {
namespace {

constexpr auto npos = std::string_view::npos;

// ---------------------------------------------------------------------------------------------
// Small text helpers

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Apache writes "&nbsp;" into empty cells.
std::string_view trim_cell(std::string_view text) {
  text = trim(text);
  while (text.starts_with("&nbsp;")) text = trim(text.substr(6));
  while (text.ends_with("&nbsp;")) text = trim(text.substr(0, text.size() - 6));
  return text;
}

// ---------------------------------------------------------------------------------------------
// HTML character references

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

struct NamedEntity {
  std::string_view name;
  std::string_view text;
};
constexpr std::array<NamedEntity, 10> kEntities{{
    {"amp", "&"},
    {"lt", "<"},
    {"gt", ">"},
    {"quot", "\""},
    {"apos", "'"},
    {"AMP", "&"},
    {"LT", "<"},
    {"GT", ">"},
    {"QUOT", "\""},
    {"nbsp", "\xC2\xA0"},
}};

// Decodes the references a server may put in an attribute. An '&' that starts no known
// reference stays literal, as in a browser. nullopt for a numeric reference to NUL, a surrogate
// or beyond U+10FFFF.
std::optional<std::string> decode_entities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    // References are short: look for the ';' within reach only, or every '&' of a long run
    // would scan to the end of the attribute (quadratic in a 64 MiB listing).
    const std::size_t reach = text.substr(i + 1, 12).find(';');
    if (reach == npos) {  // this '&' is literal
      out.push_back('&');
      ++i;
      continue;
    }
    const std::size_t semi = i + 1 + reach;
    const std::string_view body = text.substr(i + 1, semi - i - 1);
    if (body.size() >= 2 && body[0] == '#') {
      const bool hex = body[1] == 'x' || body[1] == 'X';
      const std::string_view digits = body.substr(hex ? 2 : 1);
      std::uint32_t cp = 0;
      bool ok = !digits.empty() && digits.size() <= 8;
      for (const char d : digits) {
        if (!ok) break;
        int v = -1;
        if (is_digit(d))
          v = d - '0';
        else if (hex && d >= 'a' && d <= 'f')
          v = d - 'a' + 10;
        else if (hex && d >= 'A' && d <= 'F')
          v = d - 'A' + 10;
        if (v < 0)
          ok = false;
        else
          cp = cp * (hex ? 16u : 10u) + static_cast<std::uint32_t>(v);
      }
      if (!ok) {
        out.push_back('&');
        ++i;
        continue;
      }
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
      append_utf8(out, cp);
      i = semi + 1;
      continue;
    }
    const auto* entity = std::find_if(kEntities.begin(), kEntities.end(),
                                      [&](const NamedEntity& e) { return e.name == body; });
    if (entity == kEntities.end()) {
      out.push_back('&');
      ++i;
      continue;
    }
    out.append(entity->text);
    i = semi + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tag scanner

struct Tag {
  std::string_view name;   // as written; compare with iequals
  std::string_view attrs;  // raw text between the name and the closing '>'
  bool closing = false;
  std::size_t end = 0;  // offset just past '>'
};

class TagScanner {
public:
  explicit TagScanner(std::string_view html) : html_(html) {}

  // The next tag at or after the current position; false at the end of the page (or at a tag
  // that never closes, which means the page was cut short).
  bool next(Tag& tag);
  void seek(std::size_t pos) { pos_ = std::min(pos, html_.size()); }

private:
  bool finish() {
    pos_ = html_.size();
    return false;
  }

  std::string_view html_;
  std::size_t pos_ = 0;
};

// Case-insensitive search for `needle`, whose first character is '<'.
std::size_t find_tag_ci(std::string_view html, std::string_view needle, std::size_t from) {
  while (from < html.size()) {
    const std::size_t lt = html.find('<', from);
    if (lt == npos || html.size() - lt < needle.size()) return npos;
    if (iequals(html.substr(lt, needle.size()), needle)) return lt;
    from = lt + 1;
  }
  return npos;
}

bool TagScanner::next(Tag& tag) {
  const std::size_t n = html_.size();
  while (pos_ < n) {
    const std::size_t lt = html_.find('<', pos_);
    if (lt == npos || lt + 1 >= n) return finish();
    std::size_t p = lt + 1;

    if (html_.compare(p, 3, "!--") == 0) {  // comment: links inside do not exist
      const std::size_t close = html_.find("-->", p + 3);
      if (close == npos) return finish();
      pos_ = close + 3;
      continue;
    }
    if (html_[p] == '!' || html_[p] == '?') {  // <!DOCTYPE ...>, <?xml ...?>
      const std::size_t gt = html_.find('>', p);
      if (gt == npos) return finish();
      pos_ = gt + 1;
      continue;
    }
    const bool closing = html_[p] == '/';
    if (closing) ++p;
    const std::size_t name_begin = p;
    if (p >= n || !is_alpha(html_[p])) {  // a literal '<' in text
      pos_ = lt + 1;
      continue;
    }
    while (p < n && (is_alpha(html_[p]) || is_digit(html_[p]))) ++p;
    const std::string_view name = html_.substr(name_begin, p - name_begin);

    // Attributes run to the first '>' outside a quoted value. A quote opens a value only
    // right after '=' (spaces allowed), as in the HTML tokenizer.
    const std::size_t attrs_begin = p;
    bool after_equals = false;
    while (p < n && html_[p] != '>') {
      const char c = html_[p];
      if (after_equals && (c == '"' || c == '\'')) {
        const std::size_t close = html_.find(c, p + 1);
        if (close == npos) return finish();
        p = close + 1;
        after_equals = false;
        continue;
      }
      if (c == '=')
        after_equals = true;
      else if (!is_space(c))
        after_equals = false;
      ++p;
    }
    if (p >= n) return finish();
    tag.name = name;
    tag.attrs = html_.substr(attrs_begin, p - attrs_begin);
    tag.closing = closing;
    tag.end = p + 1;
    pos_ = p + 1;

    // Raw-text elements: what they hold is not markup.
    if (!closing) {
      for (const std::string_view raw : {"script", "style", "title", "textarea"}) {
        if (iequals(name, raw)) {
          std::string close_tag = "</";
          close_tag.append(raw);
          const std::size_t close = find_tag_ci(html_, close_tag, pos_);
          pos_ = close == npos ? n : close;
          break;
        }
      }
    }
    return true;
  }
  return finish();
}

// The value of attribute `wanted` (first occurrence wins, as in browsers); nullopt when absent.
std::optional<std::string_view> attribute(std::string_view attrs, std::string_view wanted) {
  const std::size_t n = attrs.size();
  std::size_t i = 0;
  while (i < n) {
    while (i < n && (is_space(attrs[i]) || attrs[i] == '/')) ++i;
    const std::size_t name_begin = i;
    while (i < n && !is_space(attrs[i]) && attrs[i] != '=' && attrs[i] != '/') ++i;
    const std::string_view name = attrs.substr(name_begin, i - name_begin);
    if (name.empty()) {
      if (i < n) ++i;  // a stray '='
      continue;
    }
    while (i < n && is_space(attrs[i])) ++i;
    std::string_view value;
    if (i < n && attrs[i] == '=') {
      ++i;
      while (i < n && is_space(attrs[i])) ++i;
      if (i < n && (attrs[i] == '"' || attrs[i] == '\'')) {
        const char quote = attrs[i++];
        std::size_t close = attrs.find(quote, i);
        if (close == npos) close = n;
        value = attrs.substr(i, close - i);
        i = close < n ? close + 1 : n;
      } else {
        const std::size_t value_begin = i;
        while (i < n && !is_space(attrs[i])) ++i;
        value = attrs.substr(value_begin, i - value_begin);
      }
    }
    if (iequals(name, wanted)) return value;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// One pass over the page: every link, with what the dialects put beside it.

enum class Context {
  Pre,       // nginx, or Apache's <pre> form: the columns follow on the same line
  TableRow,  // Apache's <table> form: the columns are the cells after the link's cell
  Other,     // <ul>/<li> (development server, Apache's plain list) or anything else
};

struct RawAnchor {
  std::optional<std::string_view> href;
  std::string_view text;  // between <a> and </a>
  Context context = Context::Other;
  std::string_view line_rest;               // Pre: the text after </a>, up to the line end
  std::array<std::string_view, 4> cells{};  // TableRow: cells after the link's own cell
  std::size_t cell_count = 0;
};

struct PageScan {
  std::vector<RawAnchor> anchors;
  bool apache = false;  // sort links, "Parent Directory" or an Apache <address> were seen
};

// Apache's link up ("/pub/data/"), absolute and so otherwise refused. It always names a
// directory; a *file* called "Parent Directory" in another dialect stays an entry.
bool is_apache_parent_link(std::string_view href, std::string_view text) {
  return trim(text) == "Parent Directory" && trim(href).ends_with('/');
}

// Where the text of an <a> ends: at its "</a>", or (an unclosed link) at the next "<a".
// Returns {end of text, position to resume scanning}.
std::pair<std::size_t, std::size_t> anchor_text_end(std::string_view html, std::size_t from) {
  std::size_t p = from;
  while (true) {
    const std::size_t lt = html.find('<', p);
    if (lt == npos) return {html.size(), html.size()};
    const std::string_view rest = html.substr(lt);
    const auto boundary = [](std::string_view s, std::size_t at) {
      return at >= s.size() || is_space(s[at]) || s[at] == '>';
    };
    if (rest.size() >= 3 && rest[1] == '/' && ascii_lower(rest[2]) == 'a' && boundary(rest, 3)) {
      const std::size_t gt = html.find('>', lt);
      return {lt, gt == npos ? html.size() : gt + 1};
    }
    if (rest.size() >= 2 && ascii_lower(rest[1]) == 'a' && boundary(rest, 2)) return {lt, lt};
    p = lt + 1;
  }
}

PageScan scan_page(std::string_view html) {
  PageScan scan;
  TagScanner scanner(html);
  Tag tag;
  int pre_depth = 0;
  int table_depth = 0;
  bool in_row = false;
  constexpr auto kNoAnchor = static_cast<std::size_t>(-1);
  std::size_t row_anchor = kNoAnchor;  // the last link in the current table row

  while (scanner.next(tag)) {
    const std::string_view name = tag.name;
    if (iequals(name, "a") && !tag.closing) {
      RawAnchor anchor;
      anchor.href = attribute(tag.attrs, "href");
      const auto [text_end, resume] = anchor_text_end(html, tag.end);
      anchor.text = html.substr(tag.end, text_end - tag.end);
      if (pre_depth > 0) {
        anchor.context = Context::Pre;
        // To the next tag, cut at the line end. Search '\n' only inside that stretch: a page
        // without newlines must not cost a scan to its end per link.
        std::size_t stop = html.find('<', resume);
        if (stop == npos) stop = html.size();
        anchor.line_rest = html.substr(resume, stop - resume);
        if (const std::size_t nl = anchor.line_rest.find('\n'); nl != npos) {
          anchor.line_rest = anchor.line_rest.substr(0, nl);
        }
      } else if (table_depth > 0 && in_row) {
        anchor.context = Context::TableRow;
        row_anchor = scan.anchors.size();
      }
      if (anchor.href && anchor.href->starts_with("?C=")) scan.apache = true;
      if (anchor.href && is_apache_parent_link(*anchor.href, anchor.text)) scan.apache = true;
      scan.anchors.push_back(anchor);
      scanner.seek(resume);
      continue;
    }
    if (iequals(name, "pre")) {
      pre_depth = tag.closing ? std::max(0, pre_depth - 1) : pre_depth + 1;
    } else if (iequals(name, "table")) {
      table_depth = tag.closing ? std::max(0, table_depth - 1) : table_depth + 1;
      in_row = false;
      row_anchor = kNoAnchor;
    } else if (iequals(name, "tr")) {
      in_row = !tag.closing;
      row_anchor = kNoAnchor;
    } else if ((iequals(name, "td") || iequals(name, "th")) && !tag.closing &&
               row_anchor != kNoAnchor) {
      RawAnchor& anchor = scan.anchors[row_anchor];
      if (anchor.cell_count < anchor.cells.size()) {
        std::size_t stop = html.find('<', tag.end);
        if (stop == npos) stop = html.size();
        anchor.cells[anchor.cell_count++] = html.substr(tag.end, stop - tag.end);
      }
    } else if (iequals(name, "address") && !tag.closing) {
      std::size_t stop = html.find('<', tag.end);
      if (stop == npos) stop = html.size();
      if (trim(html.substr(tag.end, stop - tag.end)).starts_with("Apache")) scan.apache = true;
    }
  }
  return scan;
}

// ---------------------------------------------------------------------------------------------
// From href to name

enum class HrefVerdict { Entry, Skip, Reject };

struct HrefResult {
  HrefVerdict verdict = HrefVerdict::Skip;
  std::string name;
  bool dir = false;
};

// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":". Servers escape ':' in names
// (nginx writes %3A, older nginx and Apache prefix "./"), so a bare "x:" is a scheme.
bool has_scheme(std::string_view href) {
  if (href.empty() || !is_alpha(href[0])) return false;
  for (std::size_t i = 1; i < href.size(); ++i) {
    const char c = href[i];
    if (c == ':') return true;
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

HrefResult interpret_href(std::string_view raw, std::string_view text) {
  HrefResult result;
  const auto decoded = decode_entities(raw);
  if (!decoded) {
    result.verdict = HrefVerdict::Reject;
    return result;
  }
  std::string_view href = trim(*decoded);

  // Links every dialect carries that are not entries: sort links, fragments, the parent.
  if (href.empty() || href.front() == '?' || href.front() == '#') return result;
  if (href == "../" || href == ".." || href == "./" || href == ".") return result;
  if (is_apache_parent_link(href, text)) return result;  // often an absolute path

  result.verdict = HrefVerdict::Reject;
  if (href.front() == '/' || href.front() == '\\' || has_scheme(href)) return result;  // off-tree
  if (href.find_first_of("?#") != npos) return result;  // a name would have them escaped
  if (href.starts_with("./")) href.remove_prefix(2);
  result.dir = href.ends_with('/');
  if (result.dir) href.remove_suffix(1);
  if (href.find('/') != npos) return result;  // not a direct child: "../../etc/", "a/b"

  auto name = percent_decode(href);
  if (!name || !is_safe_segment(*name)) return result;
  result.verdict = HrefVerdict::Entry;
  result.name = std::move(*name);
  return result;
}

// ---------------------------------------------------------------------------------------------
// The columns beside a link

struct Columns {
  std::optional<std::int64_t> size;   // only a plain byte count
  std::optional<std::int64_t> mtime;  // only nginx's GMT "DD-Mon-YYYY HH:MM"
};

std::optional<std::int64_t> exact_size(std::string_view token) {
  if (token.empty() || !std::all_of(token.begin(), token.end(), is_digit)) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : token) {
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<int> two_digits(std::string_view text) {
  if (text.size() != 2 || !is_digit(text[0]) || !is_digit(text[1])) return std::nullopt;
  return (text[0] - '0') * 10 + (text[1] - '0');
}

// nginx: "14-Jan-2021" "20:53", GMT.
std::optional<std::int64_t> nginx_mtime(std::string_view date, std::string_view time) {
  static constexpr std::array<std::string_view, 12> kMonths{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (date.size() != 11 || date[2] != '-' || date[6] != '-') return std::nullopt;
  if (time.size() != 5 || time[2] != ':') return std::nullopt;
  const auto day = two_digits(date.substr(0, 2));
  const auto* month = std::find(kMonths.begin(), kMonths.end(), date.substr(3, 3));
  const auto century = two_digits(date.substr(7, 2));
  const auto year_in_century = two_digits(date.substr(9, 2));
  const auto hour = two_digits(time.substr(0, 2));
  const auto minute = two_digits(time.substr(3, 2));
  if (!day || month == kMonths.end() || !century || !year_in_century || !hour || !minute ||
      *hour > 23 || *minute > 59)
    return std::nullopt;
  const std::chrono::year_month_day ymd{
      std::chrono::year{*century * 100 + *year_in_century},
      std::chrono::month{static_cast<unsigned>(month - kMonths.begin() + 1)},
      std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + *hour * 3600 + *minute * 60;
}

bool looks_like_date(std::string_view token) {
  return token.size() >= 8 && std::any_of(token.begin(), token.end(), is_digit) &&
         token.find_first_of("-/") != npos;
}

Columns columns_of(const RawAnchor& anchor, bool apache) {
  Columns columns;
  if (anchor.context == Context::Pre) {
    std::array<std::string_view, 4> tokens{};
    std::size_t count = 0;
    std::string_view rest = anchor.line_rest;
    while (count < tokens.size()) {
      rest = trim(rest);
      if (rest.empty()) break;
      std::size_t end = 0;
      while (end < rest.size() && !is_space(rest[end])) ++end;
      tokens[count++] = rest.substr(0, end);
      rest.remove_prefix(end);
    }
    std::size_t i = 0;
    if (i < count && looks_like_date(tokens[i])) {
      if (!apache && i + 1 < count) columns.mtime = nginx_mtime(tokens[i], tokens[i + 1]);
      ++i;
      if (i < count && tokens[i].find(':') != npos) ++i;
    }
    if (i < count) columns.size = exact_size(tokens[i]);
  } else if (anchor.context == Context::TableRow) {
    std::size_t i = 0;
    if (i < anchor.cell_count && looks_like_date(trim_cell(anchor.cells[i]))) ++i;
    if (i < anchor.cell_count) columns.size = exact_size(trim_cell(anchor.cells[i]));
  }
  return columns;
}

// ---------------------------------------------------------------------------------------------

struct Candidate {
  ListingEntry entry;
  std::string_view href;  // raw, for the rejected list
};

}  // namespace

Listing parse_listing(std::string_view html) {
  const PageScan scan = scan_page(html);
  Listing listing;

  std::vector<Candidate> candidates;
  candidates.reserve(scan.anchors.size());
  for (const RawAnchor& anchor : scan.anchors) {
    if (!anchor.href) continue;  // <a name="...">
    HrefResult href = interpret_href(*anchor.href, anchor.text);
    if (href.verdict == HrefVerdict::Skip) continue;
    if (href.verdict == HrefVerdict::Reject) {
      listing.rejected.emplace_back(*anchor.href);
      continue;
    }
    Candidate candidate;
    candidate.href = *anchor.href;
    candidate.entry.name = std::move(href.name);
    if (href.dir) {
      candidate.entry.kind = EntryKind::Dir;
    } else if (anchor.context != Context::Other || scan.apache) {
      candidate.entry.kind = EntryKind::File;  // nginx and Apache mark directories with '/'
    } else {
      candidate.entry.kind = EntryKind::Unknown;  // the development server does not
    }
    const Columns columns = columns_of(anchor, scan.apache);
    if (candidate.entry.kind == EntryKind::File) candidate.entry.size = columns.size;
    candidate.entry.mtime = columns.mtime;
    candidates.push_back(std::move(candidate));
  }

  const auto by_name = [](const Candidate& a, const Candidate& b) {
    return a.entry.name < b.entry.name;
  };
  if (!std::is_sorted(candidates.begin(), candidates.end(), by_name)) {
    std::stable_sort(candidates.begin(), candidates.end(), by_name);
  }

  // Merge links to the same name (Apache's IconsAreLinks gives two per row). A name that is
  // both a file and a directory is contradictory: refuse it rather than guess.
  for (std::size_t first = 0; first < candidates.size();) {
    std::size_t last = first + 1;
    while (last < candidates.size() && candidates[last].entry.name == candidates[first].entry.name)
      ++last;
    bool any_file = false;
    bool any_dir = false;
    bool size_conflict = false;
    ListingEntry merged = candidates[first].entry;
    for (std::size_t i = first; i < last; ++i) {
      const ListingEntry& e = candidates[i].entry;
      any_file = any_file || e.kind == EntryKind::File;
      any_dir = any_dir || e.kind == EntryKind::Dir;
      if (e.size) {
        if (merged.size && *merged.size != *e.size) size_conflict = true;
        if (!merged.size) merged.size = e.size;
      }
      if (!merged.mtime) merged.mtime = e.mtime;
    }
    if (any_file && any_dir) {
      for (std::size_t i = first; i < last; ++i) listing.rejected.emplace_back(candidates[i].href);
    } else {
      merged.kind = any_dir ? EntryKind::Dir : any_file ? EntryKind::File : EntryKind::Unknown;
      if (size_conflict) merged.size.reset();  // not exact if the page disagrees with itself
      listing.entries.push_back(std::move(merged));
    }
    first = last;
  }
  return listing;
}

}  // namespace pnsync
