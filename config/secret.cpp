// SPDX-License-Identifier: MIT
#include "config/secret.hpp"

#include <openssl/crypto.h>

namespace pnsync::config {

void wipe(std::string& s) noexcept {
  // resize() within the capacity never reallocates; it makes every owned byte writable.
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    wipe(value_);
    value_ = other.value_;  // fits the wiped buffer, or frees it (already clean) for a larger one
  }
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe(value_);
    value_ = std::move(other.value_);
    wipe(other.value_);
  }
  return *this;
}

}  // namespace pnsync::config
