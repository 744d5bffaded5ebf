// SPDX-License-Identifier: MIT
#include "tests/support/router.hpp"

#include "tests/support/listing_render.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

namespace pnsync::test {
namespace {

using Kind = Fault::Kind;

bool is_body_fault(Kind k) {
  return k == Kind::ResetAfter || k == Kind::Stall || k == Kind::Slow || k == Kind::WrongBytes ||
         k == Kind::Truncate;
}

std::string hex(std::uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string server_name(ListingStyle style) {
  switch (style) {
    case ListingStyle::Nginx:
      return "nginx";
    case ListingStyle::Apache:
      return "Apache/2.4.57 (Debian)";
    case ListingStyle::DevServer:
      return "WSGIServer/0.2 CPython/3.11.2";
  }
  return "pnsync-test";
}

std::string listing_content_type(ListingStyle style) {
  switch (style) {
    case ListingStyle::Nginx:
      return "text/html";
    case ListingStyle::Apache:
      return "text/html;charset=UTF-8";
    case ListingStyle::DevServer:
      return "text/html; charset=utf-8";
  }
  return "text/html";
}

// A few entries of nginx's mime.types; everything else is application/octet-stream.
std::string file_content_type(const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  if (ext == ".txt") return "text/plain";
  if (ext == ".html" || ext == ".htm") return "text/html";
  if (ext == ".json") return "application/json";
  if (ext == ".zip") return "application/zip";
  return "application/octet-stream";
}

// Does the Cookie header carry "sessionid=<id>"? Returns the id.
std::optional<std::string> session_cookie(std::string_view cookies) {
  constexpr std::string_view kName = "sessionid=";
  while (!cookies.empty()) {
    while (!cookies.empty() && (cookies.front() == ' ' || cookies.front() == ';'))
      cookies.remove_prefix(1);
    const auto end = cookies.find(';');
    const auto pair = cookies.substr(0, end);
    if (pair.starts_with(kName)) return std::string(pair.substr(kName.size()));
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end);
  }
  return std::nullopt;
}

std::string new_session_id() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) | rd());
  return hex(rng()) + hex(rng());
}

bool has_body(const http::RequestHead& req) {
  const std::string* length = req.header("Content-Length");
  return req.header("Transfer-Encoding") != nullptr || (length != nullptr && *length != "0");
}

std::string header_or_empty(const http::RequestHead& req, std::string_view name) {
  const std::string* v = req.header(name);
  return v != nullptr ? *v : std::string();
}

}  // namespace

std::uint64_t Response::body_size() const {
  if (const auto* s = std::get_if<std::string>(&body)) return s->size();
  return std::get<FileSlice>(body).length;
}

std::string Response::head() const {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(http::reason_phrase(status)) + "\r\n";
  for (const auto& h : headers) out += h.name + ": " + h.value + "\r\n";
  if (framing == Framing::ContentLength) {
    out += "Content-Length: " + std::to_string(body_size()) + "\r\n";
  } else if (framing == Framing::Chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  out += "\r\n";
  return out;
}

Router::Router(ServerOptions options) : options_(std::move(options)) {}

void Router::set_origin(std::string scheme, std::uint16_t port) {
  scheme_ = std::move(scheme);
  port_ = port;
}

Response Router::route(const http::RequestHead& req, std::uint64_t connection) {
  RequestRecord rec;
  rec.method = req.method;
  rec.target = req.target;
  rec.range = header_or_empty(req, "Range");
  rec.user_agent = header_or_empty(req, "User-Agent");
  rec.authorization = header_or_empty(req, "Authorization");
  rec.cookie = header_or_empty(req, "Cookie");
  rec.connection = connection;
  rec.at = std::chrono::steady_clock::now();
  for (const auto& h : req.headers) rec.headers.emplace_back(h.name, h.value);

  const std::string raw_path = req.target.substr(0, req.target.find('?'));
  const std::optional<std::string> path = http::percent_decode(raw_path);
  rec.path = path.value_or(raw_path);

  Response res;
  if (!path || path->empty() || path->front() != '/' || path->find('\0') != std::string::npos) {
    res = error(400);
  } else {
    try {
      res = dispatch(req, *path);
    } catch (const std::exception&) {  // e.g. a directory that vanished while being listed
      res = error(500);
    }
  }
  finalize(req, res);
  rec.status = res.status;
  res.request_serial = log(std::move(rec));
  return res;
}

Response Router::reject(int status, std::uint64_t connection) {
  RequestRecord rec;
  rec.status = status;
  rec.connection = connection;
  const std::uint64_t serial = log(std::move(rec));
  Response res = error(status);
  res.request_serial = serial;
  res.close = true;
  add_server_headers(res, 1);
  return res;
}

Response Router::dispatch(const http::RequestHead& req, const std::string& path) {
  if (req.method != "GET" && req.method != "HEAD") {
    Response res = error(405);
    res.headers.push_back({"Allow", "GET, HEAD"});
    res.close = true;  // the request may carry a body we will not read
    return res;
  }
  if (has_body(req)) {
    Response res = error(400);
    res.close = true;
    return res;
  }
  const std::string& prefix = options_.url_prefix;
  if (!path.starts_with(prefix) && path + "/" != prefix) return error(404);

  // A fault status stands for the whole server being unwell: it comes before authentication.
  if (auto f = take_fault(path, [](const Fault& f) { return f.kind == Kind::Status; })) {
    Response res;
    res.status = f->status;
    if (f->retry_after) res.headers.push_back({"Retry-After", *f->retry_after});
    return res;
  }

  Auth auth = authenticate(req);
  if (auth.denied) return std::move(*auth.denied);

  Response res;
  struct stat st {};
  const auto file = map_to_root(path);
  if (!file) {  // NOLINT(bugprone-branch-clone): a 404 for each reason nginx has for one
    res = error(404);
  } else if (::stat(file->c_str(), &st) != 0) {
    res = error(errno == EACCES ? 403 : 404);
  } else if (S_ISDIR(st.st_mode)) {
    res = path.ends_with('/') ? serve_directory(req, path, *file) : redirect_to_slash(req);
  } else if (S_ISREG(st.st_mode) && !path.ends_with('/')) {
    res = serve_file(req, path, *file, st);
  } else {
    res = error(404);
  }
  if (auth.set_cookie) res.headers.push_back(std::move(*auth.set_cookie));
  return res;
}

// physionet.org (see SERVER.md): Basic credentials count only when the User-Agent starts with
// "Wget/" or "libwfdb/"; anything else gets 403, never 401.
Router::Auth Router::authenticate(const http::RequestHead& req) {
  if (!options_.username) return {};
  const std::string* cookie = req.header("Cookie");
  if (options_.session_cookies && cookie != nullptr) {
    if (auto id = session_cookie(*cookie)) {
      std::lock_guard lock(mutex_);
      if (sessions_.contains(*id)) return {};
    }
  }

  const std::string ua = header_or_empty(req, "User-Agent");
  if (!ua.starts_with("Wget/") && !ua.starts_with("libwfdb/")) return {error(403), std::nullopt};

  bool ok = false;
  const std::string authorization = header_or_empty(req, "Authorization");
  if (http::istarts_with(authorization, "Basic ")) {
    std::string_view b64 = authorization;
    b64.remove_prefix(6);
    while (b64.starts_with(' ')) b64.remove_prefix(1);
    if (auto decoded = http::base64_decode(b64)) {
      const auto colon = decoded->find(':');
      ok = colon != std::string::npos && decoded->substr(0, colon) == *options_.username &&
           decoded->substr(colon + 1) == options_.password.value_or("");
    }
  }
  if (!ok) {
    Response res;
    res.status = 401;
    res.headers = {{"WWW-Authenticate", R"(Basic realm="PhysioNet", charset="UTF-8")"},
                   {"Set-Cookie", "testcookie=1"}};
    return {std::move(res), std::nullopt};
  }

  Auth granted;
  if (options_.session_cookies && cookie != nullptr) {
    std::string id = new_session_id();
    granted.set_cookie =
        http::Header{"Set-Cookie", "sessionid=" + id + "; HttpOnly; Path=/; SameSite=Lax"};
    std::lock_guard lock(mutex_);
    sessions_.insert(std::move(id));
  }
  return granted;
}

Response Router::serve_directory(const http::RequestHead& req, const std::string& path,
                                 const std::filesystem::path& dir) {
  const ListingPage page{path, "127.0.0.1", port_};
  Response res;
  res.headers.push_back({"Content-Type", listing_content_type(options_.listing_style)});
  res.body = render_listing(options_.listing_style, page, read_directory(dir));
  // nginx and Apache generate listings on the fly: chunked, no ETag, no Last-Modified.
  res.framing =
      options_.listing_style == ListingStyle::DevServer ? Framing::ContentLength : Framing::Chunked;
  const bool get = req.method == "GET";
  if (auto f = take_fault(path, [get](const Fault& f) { return get && is_body_fault(f.kind); })) {
    res.fault = *f;
  }
  return res;
}

Response Router::serve_file(const http::RequestHead& req, const std::string& path,
                            const std::filesystem::path& file, const struct stat& st) {
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // nginx's ETag is "<hex mtime>-<hex size>", not a content hash.
  const std::string etag =
      "\"" + hex(static_cast<std::uint64_t>(st.st_mtime)) + "-" + hex(size) + "\"";
  const std::string last_modified = http::imf_fixdate(st.st_mtime);

  Response res;
  res.headers = {
      {"Content-Type", file_content_type(file)}, {"Last-Modified", last_modified}, {"ETag", etag}};
  if (options_.listing_style != ListingStyle::Apache) {
    res.headers.push_back({"Content-Disposition", "inline; filename=" + file.filename().string()});
  }

  // nginx: If-None-Match wins; If-Modified-Since must match exactly (if_modified_since exact).
  // Listings (serve_directory) carry no validators and are never 304.
  const std::string* inm = req.header("If-None-Match");
  const std::string* ims = req.header("If-Modified-Since");
  const bool not_modified =
      (inm != nullptr && (*inm == "*" || inm->find(etag) != std::string::npos)) ||
      (inm == nullptr && ims != nullptr && http::parse_imf_fixdate(*ims) == st.st_mtime);
  if (not_modified &&
      !take_fault(path, [](const Fault& f) { return f.kind == Kind::IgnoreConditional; })) {
    res.status = 304;
    res.framing = Framing::None;
    res.send_body = false;
    return res;
  }

  res.headers.push_back({"Accept-Ranges", "bytes"});
  res.body = FileSlice{file, 0, size};
  const std::string* range = req.header("Range");
  const std::string* if_range = req.header("If-Range");
  const bool use_range =
      range != nullptr && (if_range == nullptr || *if_range == etag || *if_range == last_modified);
  if (use_range) {
    const auto kind_is = [](Kind k) { return [k](const Fault& f) { return f.kind == k; }; };
    const http::ByteRange r = http::parse_range(*range, size);
    if (take_fault(path, kind_is(Kind::Always416)) ||
        r.kind == http::ByteRange::Kind::Unsatisfiable) {
      Response bad = error(416);
      bad.headers.push_back({"Content-Range", "bytes */" + std::to_string(size)});
      return bad;
    }
    const auto shift = [&] {
      std::lock_guard lock(mutex_);
      const auto it = faults_.find(path);
      return it != faults_.end() && it->second.kind == Kind::WrongContentRange
                 ? static_cast<std::uint64_t>(std::max<std::int64_t>(1, it->second.bytes))
                 : 0;
    }();
    const bool can_shift =
        r.kind == http::ByteRange::Kind::Satisfiable && r.first + shift <= r.last;
    if (can_shift && take_fault(path, kind_is(Kind::WrongContentRange))) {
      // A slice that starts later than asked, described truthfully: the client must notice.
      const std::uint64_t first = r.first + shift;
      res.status = 206;
      res.headers.push_back({"Content-Range", "bytes " + std::to_string(first) + "-" +
                                                  std::to_string(r.last) + "/" +
                                                  std::to_string(size)});
      res.body = FileSlice{file, first, r.last - first + 1};
    } else if (take_fault(path, kind_is(Kind::IgnoreRange))) {
      // fall through to a 200 with the whole file
    } else if (r.kind == http::ByteRange::Kind::Satisfiable) {
      res.status = 206;
      res.headers.push_back({"Content-Range", "bytes " + std::to_string(r.first) + "-" +
                                                  std::to_string(r.last) + "/" +
                                                  std::to_string(size)});
      res.body = FileSlice{file, r.first, r.last - r.first + 1};
    }
  }

  const bool get = req.method == "GET";
  if (auto f = take_fault(path, [get](const Fault& f) { return get && is_body_fault(f.kind); })) {
    res.fault = *f;
  }
  return res;
}

Response Router::redirect_to_slash(const http::RequestHead& req) {
  const auto query = req.target.find('?');
  const std::string location = req.target.substr(0, query) + "/" +
                               (query == std::string::npos ? "" : req.target.substr(query));
  if (options_.listing_style == ListingStyle::DevServer) {
    // Django's APPEND_SLASH-style answer: 302, a path-only Location, no body.
    Response res;
    res.status = 302;
    res.headers = {{"Content-Type", "text/html; charset=utf-8"}, {"Location", location}};
    return res;
  }
  // nginx (absolute_redirect on) and Apache's mod_dir: 301 to an absolute URL.
  Response res = error(301);
  const std::string* host = req.header("Host");
  const std::string authority = host != nullptr ? *host : "127.0.0.1:" + std::to_string(port_);
  res.headers.push_back({"Location", scheme_ + "://" + authority + location});
  return res;
}

Response Router::error(int status) const {
  // nginx's built-in error page; close enough for the other two servers too.
  const std::string title = std::to_string(status) + " " + std::string(http::reason_phrase(status));
  Response res;
  res.status = status;
  res.headers.push_back({"Content-Type", "text/html"});
  res.body = "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" +
             title + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
  return res;
}

std::optional<std::filesystem::path> Router::map_to_root(const std::string& path) const {
  const std::string& prefix = options_.url_prefix;
  std::string_view rel =
      path.size() > prefix.size() ? std::string_view(path).substr(prefix.size()) : "";
  if (rel.ends_with('/')) rel.remove_suffix(1);
  std::filesystem::path out = options_.root;
  while (!rel.empty()) {
    const auto slash = rel.find('/');
    const auto segment = rel.substr(0, slash);
    // "..", "." and empty segments ("a//b") never name a file below the root.
    if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
    out /= segment;
    rel = slash == std::string_view::npos ? std::string_view() : rel.substr(slash + 1);
    if (slash != std::string_view::npos && rel.empty()) return std::nullopt;
  }
  return out;
}

std::optional<Fault> Router::take_fault(const std::string& path,
                                        const std::function<bool(const Fault&)>& applies) {
  std::lock_guard lock(mutex_);
  const auto it = faults_.find(path);
  if (it == faults_.end() || it->second.times == 0 || !applies(it->second)) return std::nullopt;
  Fault taken = it->second;
  if (it->second.times > 0 && --it->second.times == 0) faults_.erase(it);
  return taken;
}

void Router::finalize(const http::RequestHead& req, Response& res) const {
  if (req.method == "HEAD") res.send_body = false;
  if (!req.keep_alive()) res.close = true;
  if (req.minor_version == 0 && res.framing == Framing::Chunked) {
    res.framing = Framing::UntilClose;  // HTTP/1.0 has no chunked coding
    res.close = true;
  }
  add_server_headers(res, req.minor_version);
}

void Router::add_server_headers(Response& res, int minor_version) const {
  res.headers.insert(res.headers.begin(), {{"Server", server_name(options_.listing_style)},
                                           {"Date", http::imf_fixdate(std::time(nullptr))}});
  if (res.close) {
    res.headers.push_back({"Connection", "close"});
  } else if (minor_version == 0) {
    res.headers.push_back({"Connection", "keep-alive"});
  }
}

std::uint64_t Router::log(RequestRecord record) {
  std::lock_guard lock(mutex_);
  log_.push_back(std::move(record));
  return first_serial_ + log_.size() - 1;
}

void Router::count_body_bytes(std::uint64_t n, std::uint64_t serial) {
  body_bytes_ += n;
  std::lock_guard lock(mutex_);
  if (serial >= first_serial_ && serial - first_serial_ < log_.size())
    log_[serial - first_serial_].body_bytes += n;
}

void Router::uncount_body_bytes(std::uint64_t n, std::uint64_t serial) {
  body_bytes_ -= n;
  std::lock_guard lock(mutex_);
  if (serial >= first_serial_ && serial - first_serial_ < log_.size())
    log_[serial - first_serial_].body_bytes -= n;
}

void Router::set_fault(const std::string& url_path, Fault fault) {
  std::lock_guard lock(mutex_);
  faults_[url_path] = std::move(fault);
}

void Router::clear_faults() {
  std::lock_guard lock(mutex_);
  faults_.clear();
}

std::vector<RequestRecord> Router::requests() const {
  std::lock_guard lock(mutex_);
  return log_;
}

std::size_t Router::count_requests(const std::string& url_path) const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& r : log_) n += r.path == url_path ? 1 : 0;
  return n;
}

void Router::clear_requests() {
  std::lock_guard lock(mutex_);
  first_serial_ += log_.size();
  log_.clear();
  body_bytes_ = 0;
}

}  // namespace pnsync::test
