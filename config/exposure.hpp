// SPDX-License-Identifier: MIT
// Settings that open the mirror to people who have not signed the data use agreement, which
// forbids sharing the data with them: file_mode or dir_mode with any permission for others, and
// metrics_listen on an address other than loopback (/metrics names every mirror and its dest).
// pnsyncd logs each as a warning at start and on reload; `pnsyncd --doctor` fails on them.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace pnsync::config {

struct Exposure {
  std::string setting;  // "file_mode", "dir_mode", "metrics_listen"
  std::string value;    // as it would be written: "0644", "0.0.0.0:9464"
  // "file_mode 0644 in /etc/pnsync/pnsync.yaml lets others read ...: the data use agreement ..."
  std::string problem;
  std::string fix;
};

// In the order above; empty when nothing is open.
std::vector<Exposure> exposures(const Config& config);

}  // namespace pnsync::config
