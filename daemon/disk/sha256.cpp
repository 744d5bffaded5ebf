// SPDX-License-Identifier: MIT
#include "daemon/disk/sha256.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <stdexcept>
#include <vector>

namespace pnsync {

void Sha256::CtxDeleter::operator()(evp_md_ctx_st* ctx) const noexcept {
  EVP_MD_CTX_free(ctx);
}

Sha256::Sha256() {
  reset();
}

void Sha256::reset() {
  if (!ctx_) ctx_.reset(EVP_MD_CTX_new());  // new, or moved from
  if (!ctx_) throw std::bad_alloc();
  if (EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
}

void Sha256::update(std::string_view data) {
  EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
}

std::string Sha256::finish_hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  reset();
  return hex;
}

Result<void> hash_file_prefix(int fd, std::int64_t length, Sha256& hasher,
                              const std::string& name) {
  return hash_file_range(fd, 0, length, hasher, name);
}

Result<void> hash_file_range(int fd, std::int64_t from, std::int64_t length, Sha256& hasher,
                             const std::string& name) {
  std::vector<char> buffer(static_cast<std::size_t>(std::clamp<std::int64_t>(length, 1, 1 << 20)));
  std::int64_t offset = from;
  const std::int64_t end = from + length;
  while (offset < end) {
    const auto want = static_cast<size_t>(std::min<std::int64_t>(end - offset, buffer.size()));
    const ssize_t got = ::pread(fd, buffer.data(), want, offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return local_error("cannot read", name, errno);
    }
    if (got == 0) return Error{ErrorKind::LocalStorage, "unexpected end of file in " + name, 0};
    hasher.update(std::string_view(buffer.data(), static_cast<size_t>(got)));
    offset += got;
  }
  return {};
}

}  // namespace pnsync
