// SPDX-License-Identifier: MIT
// The walk of a YAML document against tables of keys, shared by the parts of config/ that parse
// a section: each mapping is described by a table of keys and handlers; parse_map() walks a
// mapping against its table (unknown and duplicate keys, did-you-mean), and each handler turns
// one value into a field with the pure parsers of values.hpp. Every failure is a ConfigError
// "FILE:LINE: key.path: reason". Internal to config/.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/values.hpp"

namespace pnsync::config::keys {

using detail::quote;
using std::chrono::milliseconds;

// One node of the document with what a message needs: the file, the key path and the line.
struct Item {
  const std::string& file;
  YAML::Node node;
  std::string path;  // "transfers", "credentials.username", "mirrors[0].dest"
  YAML::Mark mark;   // the value's own mark, or its key's when the value is empty
};

[[noreturn]] inline void fail_at(const std::string& file, const YAML::Mark& mark,
                                 const std::string& path, const std::string& why) {
  std::string message = file;
  if (!mark.is_null()) message += ":" + std::to_string(mark.line + 1);
  message += ": ";
  if (!path.empty()) message += path + ": ";
  throw ConfigError(message + why);
}

[[noreturn]] inline void fail(const Item& item, const std::string& why) {
  fail_at(item.file, item.mark, item.path, why);
}

inline std::string line_of(const YAML::Mark& mark) {
  return std::to_string(mark.line + 1);
}

inline const char* kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

// The scalar text of `item`, which must be `what` ("an integer", "a path", ...). Values of the
// wrong shape are never echoed: they might hold a secret someone pasted in the wrong place.
inline std::string scalar(const Item& item, const char* what) {
  if (item.node.IsNull()) fail(item, std::string("missing value (expected ") + what + ")");
  if (!item.node.IsScalar())
    fail(item, std::string("must be ") + what + ", got " + kind(item.node));
  return item.node.Scalar();
}

inline void expect_map(const Item& item) {
  if (!item.node.IsMap())
    fail(item, std::string("must be a mapping of keys, got ") + kind(item.node));
}

template <class T>
T value_or_fail(const Item& item, detail::Parsed<T> parsed) {
  if (!parsed.value) fail(item, parsed.error);
  return std::move(*parsed.value);
}

inline bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// ---- Walking a mapping against a table of keys ---------------------------------------------

template <class T>
struct Key {
  std::string_view name;
  std::function<void(const Item&, T&)> apply;
  bool hidden = false;  // not offered in suggestions or key lists (a key that is always an error)
};

// The keys that were present, with the line of each key.
using Seen = std::map<std::string, YAML::Mark, std::less<>>;

inline std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

template <class T>
std::string unknown_key_message(std::string_view key, const std::vector<Key<T>>& keys) {
  std::vector<std::string_view> names;
  for (const Key<T>& k : keys)
    if (!k.hidden) names.push_back(k.name);
  if (auto near = detail::suggest(key, names))
    return "unknown key (did you mean \"" + std::string(*near) + "\"?)";
  std::string list;
  for (std::string_view n : names) list += (list.empty() ? "" : ", ") + std::string(n);
  return "unknown key (expected one of: " + list + ")";
}

template <class T>
Seen parse_map(const Item& map, const std::vector<Key<T>>& keys, T& out) {
  expect_map(map);
  Seen seen;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    const YAML::Node key = it->first;  // copies: the iterator hands out a temporary pair
    if (!key.IsScalar())
      fail_at(map.file, key.Mark(), map.path,
              std::string("keys must be plain names, got ") + kind(key));
    const std::string& name = key.Scalar();
    const std::string path = child_path(map.path, name);
    if (const auto first = seen.find(name); first != seen.end())
      fail_at(map.file, key.Mark(), path,
              "duplicate key (first set on line " + line_of(first->second) + ")");
    const auto spec =
        std::find_if(keys.begin(), keys.end(), [&](const Key<T>& k) { return k.name == name; });
    if (spec == keys.end()) fail_at(map.file, key.Mark(), path, unknown_key_message(name, keys));
    seen.emplace(name, key.Mark());
    const YAML::Node value = it->second;
    spec->apply(Item{map.file, value, path, value.IsNull() ? key.Mark() : value.Mark()}, out);
  }
  return seen;
}

inline void require(const Item& map, const Seen& seen, std::string_view name,
                    const std::string& why) {
  if (!seen.contains(name))
    fail_at(map.file, map.mark, child_path(map.path, name), "required key is missing" + why);
}

// ---- Handlers for kinds of values ----------------------------------------------------------

template <class T>
auto int_in(int T::*member, int min, int max) {
  return [=](const Item& item, T& out) {
    out.*member = static_cast<int>(
        value_or_fail(item, detail::parse_int(scalar(item, "an integer"), min, max)));
  };
}

template <class T, class Rep, class Period>
auto duration_in(std::chrono::duration<Rep, Period> T::*member, detail::DurationRule rule) {
  return [=](const Item& item, T& out) {
    const milliseconds value =
        value_or_fail(item, detail::parse_duration(scalar(item, "a duration"), rule));
    out.*member = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(value);
  };
}

inline std::filesystem::path absolute_path(const Item& item) {
  return value_or_fail(item, detail::parse_absolute_path(scalar(item, "a path")));
}

inline bool boolean(const Item& item) {
  const std::string text = scalar(item, "true or false");
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  fail(item, "must be true or false, got " + quote(text));
}

// An absolute path to a file that exists and can be read now.
inline std::filesystem::path readable_file(const Item& item) {
  std::filesystem::path path = absolute_path(item);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(item, "cannot read " + quote(path.string()) + ": " + std::strerror(errno));
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) fail(item, quote(path.string()) + " is not a regular file");
  return path;
}

inline detail::DurationRule seconds_at_least(std::chrono::seconds min) {
  return {.min = min};
}

template <class T>
auto rate(std::int64_t T::*member) {
  return [=](const Item& item, T& out) {
    out.*member = value_or_fail(item, detail::parse_rate(scalar(item, "a rate")));
  };
}

// The elements of a list, or a single value taken as a one-element list. `if_empty` says what to
// write instead of an empty list.
inline std::vector<Item> list_items(const Item& item, const char* what,
                                    const std::string& if_empty) {
  if (item.node.IsScalar()) return {item};
  if (!item.node.IsSequence())
    fail(item, std::string("must be ") + what + " or a list of them, got " + kind(item.node));
  std::vector<Item> items;
  for (std::size_t i = 0; i < item.node.size(); ++i) {
    const YAML::Node element = item.node[i];
    items.push_back(Item{item.file, element, item.path + "[" + std::to_string(i) + "]",
                         element.IsNull() ? item.mark : element.Mark()});
  }
  if (items.empty()) fail(item, "must not be an empty list (" + if_empty + ")");
  return items;
}

}  // namespace pnsync::config::keys
