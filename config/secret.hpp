// SPDX-License-Identifier: MIT
// Secret: a password in memory, overwritten as soon as nothing needs it. A std::string frees its
// buffer without clearing it and a move leaves a short string's bytes behind in the source, so
// a core dump, a later allocation or a swapped-out page could still show the password long
// after it was used. OPENSSL_cleanse is a write the compiler may not drop as a dead store.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pnsync::config {

// Overwrites every byte `s` owns (its whole capacity, not only its size) and empties it.
void wipe(std::string& s) noexcept;

class Secret {
public:
  Secret() = default;
  // Takes the bytes of `value` and wipes what the move leaves in it.
  explicit Secret(std::string&& value) noexcept : value_(std::move(value)) { wipe(value); }
  Secret(const Secret& other) = default;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { wipe(other.value_); }
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { wipe(value_); }

  // For libcurl, which copies it (CURLOPT_PASSWORD): the Secret must outlive the setopt call only.
  const char* c_str() const { return value_.c_str(); }
  std::string_view view() const { return value_; }
  bool empty() const { return value_.empty(); }
  std::size_t size() const { return value_.size(); }
  // For trimming in place (a password file's newline) without making a copy.
  std::string& edit() { return value_; }

private:
  std::string value_;
};

}  // namespace pnsync::config
