// SPDX-License-Identifier: MIT
// A .netrc reader (the format of ftp(1) and curl): whitespace-separated tokens, across lines,
// with `machine NAME`, `default`, `login`, `password`, `account` and `macdef NAME` (whose body
// runs to the next empty line). Quoted values are not supported. Errors never repeat a token
// of the file, since any of them might be (part of) a password.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/secret.hpp"

namespace pnsync::config::detail {

struct NetrcEntry {
  std::string machine;  // empty for the `default` entry
  bool is_default = false;
  std::optional<std::string> login;
  std::optional<Secret> password;  // wiped when the entries go
  int line = 0;                    // 1-based line of `machine` / `default`
};

// Throws ConfigError "NAME:LINE: reason" on a malformed file; `name` is used for messages only.
std::vector<NetrcEntry> parse_netrc(std::string_view text, const std::string& name);

// The first `machine` entry for `host` (case-insensitive) whose login is absent or equals
// `login`; failing that, such a `default` entry. `other_logins` (if given) is set when entries
// for the host exist but all name another login.
const NetrcEntry* find_netrc_entry(const std::vector<NetrcEntry>& entries, std::string_view host,
                                   std::string_view login, bool* other_logins = nullptr);

}  // namespace pnsync::config::detail
