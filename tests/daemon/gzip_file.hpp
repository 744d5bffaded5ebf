// SPDX-License-Identifier: MIT
// Writing gzip files for the table tests, with zlib as the project's tables are made.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pnsync::test {

class GzipWriter {
public:
  explicit GzipWriter(const std::filesystem::path& path, int level = 6) {
    std::filesystem::create_directories(path.parent_path());
    const std::string mode = "wb" + std::to_string(level);
    file_ = gzopen(path.c_str(), mode.c_str());
    if (file_ == nullptr) throw std::runtime_error("gzopen " + path.string());
  }
  ~GzipWriter() {
    if (file_ != nullptr) gzclose(file_);
  }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  void write(std::string_view data) {
    while (!data.empty()) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(data.size(), 1u << 30));
      if (gzwrite(file_, data.data(), chunk) != static_cast<int>(chunk))
        throw std::runtime_error("gzwrite failed");
      data.remove_prefix(chunk);
    }
  }
  void close() {
    if (file_ != nullptr && gzclose(file_) != Z_OK) throw std::runtime_error("gzclose failed");
    file_ = nullptr;
  }

private:
  gzFile file_ = nullptr;
};

inline void write_gzip(const std::filesystem::path& path, std::string_view content) {
  GzipWriter writer(path);
  writer.write(content);
  writer.close();
}

}  // namespace pnsync::test
