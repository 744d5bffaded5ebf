// SPDX-License-Identifier: MIT
// Incremental SHA-256 over OpenSSL's EVP interface.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

struct evp_md_ctx_st;

namespace pnsync {

class Sha256 {
public:
  Sha256();
  void update(std::string_view data);
  // Lowercase hex of everything fed since construction or the last reset(); resets the state.
  std::string finish_hex();
  // Starts over; also makes a moved-from hasher usable again.
  void reset();

private:
  struct CtxDeleter {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };
  std::unique_ptr<evp_md_ctx_st, CtxDeleter> ctx_;
};

// Feeds the first `length` bytes of an open file into `hasher` (used to resume: the bytes already
// on disk are hashed before new ones arrive). `name` is for the error message.
Result<void> hash_file_prefix(int fd, std::int64_t length, Sha256& hasher, const std::string& name);
// Feeds bytes [from, from + length) of an open file into `hasher` (a file fetched in ranges is
// hashed in order as the ranges fill in).
Result<void> hash_file_range(int fd, std::int64_t from, std::int64_t length, Sha256& hasher,
                             const std::string& name);

}  // namespace pnsync
