// SPDX-License-Identifier: MIT
// Small RAII helpers for the config tests: a private temporary directory and scoped changes to
// environment variables (restored, or unset again, when the test ends).
#pragma once

#include <sys/stat.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pnsync::config::test {

class TempDir {
public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/pnsync-config-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

  // Writes `content` to path()/name with permission bits `mode` (chmod, so the umask is moot).
  std::filesystem::path write(std::string_view name, std::string_view content,
                              mode_t mode = 0600) const {
    std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
      if (!out) throw std::runtime_error("cannot write " + file.string());
    }
    if (::chmod(file.c_str(), mode) != 0) throw std::runtime_error("chmod failed");
    return file;
  }

private:
  std::filesystem::path path_;
};

// Sets (or, with nullopt, unsets) an environment variable for the guard's lifetime.
class EnvGuard {
public:
  EnvGuard(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~EnvGuard() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace pnsync::config::test
