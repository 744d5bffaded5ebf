// SPDX-License-Identifier: MIT
// The engine's error model: no exceptions cross the event loop or curl callbacks; functions that
// can fail at run time return Result<T>. Every message names the file, URL or setting at fault.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pnsync {

enum class ErrorKind {
  LocalStorage,  // permission, disk full, read-only, a symlink where a directory should be
  Network,       // transient: worth retrying
  Remote,        // the server's answer will not change by retrying
  Integrity,     // the bytes do not match what was promised
};

struct Error {
  ErrorKind kind = ErrorKind::LocalStorage;
  std::string message;
  int errno_value = 0;
};

template <typename T>
class [[nodiscard]] Result {
public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : value_(std::move(error)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  const T& value() const& { return std::get<T>(value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<Error>(value_); }

private:
  std::variant<T, Error> value_;
};

template <>
class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

private:
  Error error_;
  bool failed_ = false;
};

// For local system calls: "<what> <path>: <strerror(errno)>".
Error local_error(const std::string& what, const std::string& path, int errno_value);

}  // namespace pnsync
