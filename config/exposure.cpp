// SPDX-License-Identifier: MIT
#include "config/exposure.hpp"

#include <cstdio>

#include "config/values.hpp"

namespace pnsync::config {

namespace {

constexpr const char* kAgreement =
    "the PhysioNet data use agreement forbids sharing the data with anyone who has not signed it";

std::string octal(unsigned mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", mode & 07777);
  return buffer;
}

// "read and execute (o+rx)" for the others bits of `mode`.
std::string others_bits(unsigned mode) {
  std::string words;
  std::string letters;
  const auto add = [&](unsigned bit, const char* word, char letter) {
    if ((mode & bit) == 0) return;
    words += (words.empty() ? "" : " and ") + std::string(word);
    letters += letter;
  };
  add(04, "read", 'r');
  add(02, "write", 'w');
  add(01, "execute", 'x');
  return words + " (o+" + letters + ")";
}

}  // namespace

std::vector<Exposure> exposures(const Config& config) {
  std::vector<Exposure> found;
  const std::string in = " in " + config.source_file.string();
  const std::string group_advice =
      "; to share the mirror, give it to a group of people who signed the agreement (group:)";
  if ((config.file_mode & 07) != 0)
    found.push_back({"file_mode", octal(config.file_mode),
                     "file_mode " + octal(config.file_mode) + in + " gives others " +
                         others_bits(config.file_mode) +
                         " on every file pnsync writes: " + kAgreement,
                     "set file_mode 0640 (the default)" + group_advice});
  if ((config.dir_mode & 07) != 0)
    found.push_back({"dir_mode", octal(config.dir_mode),
                     "dir_mode " + octal(config.dir_mode) + in + " gives others " +
                         others_bits(config.dir_mode) +
                         " on every directory pnsync creates: " + kAgreement,
                     "set dir_mode 2750 (the default)" + group_advice});
  if (config.metrics_listen) {
    const auto address = detail::parse_listen_address(*config.metrics_listen);
    if (address.value && !detail::is_loopback_host(address.value->host))
      found.push_back(
          {"metrics_listen", *config.metrics_listen,
           "metrics_listen " + *config.metrics_listen + in +
               " is not a loopback address: anyone who can reach the port reads /metrics, which "
               "names every mirror and where its data lies, and " +
               kAgreement,
           "set metrics_listen to 127.0.0.1:PORT or [::1]:PORT and let Prometheus reach it "
           "through an SSH tunnel or a reverse proxy that only lets the monitoring host in"});
  }
  return found;
}

}  // namespace pnsync::config
