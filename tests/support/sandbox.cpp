// SPDX-License-Identifier: MIT
#include "tests/support/sandbox.hpp"

#include <openssl/evp.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace pnsync::test {
namespace fs = std::filesystem;

namespace {

using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, decltype([](EVP_MD_CTX* c) { EVP_MD_CTX_free(c); })>;

// Incremental SHA-256 over an RAII EVP_MD_CTX.
class Sha256 {
public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
    }
  }
  void update(std::string_view data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
      throw std::runtime_error("EVP_DigestUpdate failed");
    }
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1)
      throw std::runtime_error("EVP_DigestFinal_ex failed");
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += kDigits[md[i] >> 4];
      out += kDigits[md[i] & 0x0f];
    }
    return out;
  }

private:
  EvpMdCtx ctx_;
};

// The same stream of bytes for a seed whatever the block sizes: 8 bytes per draw, little end first.
class ByteStream {
public:
  explicit ByteStream(std::uint64_t seed) : rng_(seed) {}
  void fill(char* out, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      if (left_ == 0) {
        word_ = rng_();
        left_ = 8;
      }
      out[i] = static_cast<char>(word_ & 0xff);
      word_ >>= 8;
      --left_;
    }
  }

private:
  std::mt19937_64 rng_;
  std::uint64_t word_ = 0;
  int left_ = 0;
};

// A test may leave read-only directories behind; make the tree writable so it can be removed.
void make_writable(const fs::path& root) {
  std::error_code ec;
  fs::permissions(root, fs::perms::owner_all, fs::perm_options::add, ec);
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
}

// Relative paths of everything under root, except the top-level `ignore` entry and its subtree.
std::set<std::string> relative_entries(const fs::path& root, std::string_view ignore) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path rel = it->path().lexically_relative(root);
    if (!ignore.empty() && it.depth() == 0 && rel.string() == ignore) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    out.insert(rel.generic_string());
  }
  return out;
}

bool same_bytes(const fs::path& a, const fs::path& b) {
  if (fs::file_size(a) != fs::file_size(b)) return false;
  std::ifstream fa(a, std::ios::binary);
  std::ifstream fb(b, std::ios::binary);
  std::vector<char> ba(1 << 16);
  std::vector<char> bb(1 << 16);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() ||
        !std::equal(ba.begin(), ba.begin() + fa.gcount(), bb.begin())) {
      return false;
    }
  }
  return true;
}

}  // namespace

Sandbox::Sandbox() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      (fs::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") / "pnsync-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
  }
  path_ = tmpl;
}

Sandbox::~Sandbox() {
  if (std::getenv("PNSYNC_KEEP_SANDBOX") != nullptr) {
    std::fprintf(stderr, "PNSYNC_KEEP_SANDBOX: keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (ec) {
    make_writable(path_);
    fs::remove_all(path_, ec);
  }
  if (ec)
    std::fprintf(stderr, "Sandbox: cannot remove %s: %s\n", path_.c_str(), ec.message().c_str());
}

void write_file(const fs::path& file, std::string_view content) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) throw std::runtime_error("write_file: cannot write " + file.string());
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("read_file: cannot open " + file.string());
  std::string out;
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    out.append(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return out;
}

std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::string out(size, '\0');
  ByteStream(seed).fill(out.data(), size);
  return out;
}

void write_random_file(const fs::path& file, std::uint64_t size, std::uint64_t seed) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  ByteStream bytes(seed);
  std::vector<char> buf(1 << 20);
  while (size > 0 && out) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, buf.size()));
    bytes.fill(buf.data(), n);
    out.write(buf.data(), static_cast<std::streamsize>(n));
    size -= n;
  }
  out.close();
  if (!out) throw std::runtime_error("write_random_file: cannot write " + file.string());
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

std::string sha256_file_hex(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("sha256_file_hex: cannot open " + file.string());
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  return h.hex();
}

bool trees_equal(const fs::path& a, const fs::path& b, std::string* why, std::string_view ignore) {
  auto differ = [why](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return false;
  };
  if (!fs::is_directory(a)) return differ("not a directory: " + a.string());
  if (!fs::is_directory(b)) return differ("not a directory: " + b.string());

  const auto in_a = relative_entries(a, ignore);
  const auto in_b = relative_entries(b, ignore);
  for (const auto& rel : in_a) {
    if (!in_b.contains(rel)) return differ("only in " + a.string() + ": " + rel);
  }
  for (const auto& rel : in_b) {
    if (!in_a.contains(rel)) return differ("only in " + b.string() + ": " + rel);
  }
  for (const auto& rel : in_a) {
    const auto sa = fs::symlink_status(a / rel);
    const auto sb = fs::symlink_status(b / rel);
    if (sa.type() != sb.type()) return differ("type differs: " + rel);
    if (fs::is_symlink(sa)) {
      if (fs::read_symlink(a / rel) != fs::read_symlink(b / rel))
        return differ("link target differs: " + rel);
    } else if (fs::is_regular_file(sa) && !same_bytes(a / rel, b / rel)) {
      return differ("content differs: " + rel);
    }
  }
  if (why != nullptr) why->clear();
  return true;
}

std::vector<std::string> partial_files(const fs::path& dest) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dest / ".pnsync-partial", ec))
    if (entry.path().extension() == ".part") found.push_back(entry.path().filename().string());
  return found;
}

}  // namespace pnsync::test
