// SPDX-License-Identifier: MIT
#include "config/netrc.hpp"

#include "config/config.hpp"

#include <algorithm>

namespace pnsync::config::detail {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto low = [](char c) {
             return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return low(x) == low(y);
         });
}

struct Token {
  std::string_view text;
  int line = 0;
};

class Tokenizer {
public:
  Tokenizer(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  std::optional<Token> next() {
    while (pos_ < text_.size() && is_space(text_[pos_])) advance();
    if (pos_ == text_.size()) return std::nullopt;
    const std::size_t start = pos_;
    const int line = line_;
    while (pos_ < text_.size() && !is_space(text_[pos_])) ++pos_;
    return Token{text_.substr(start, pos_ - start), line};
  }

  // The value that must follow `keyword` (named in the message; the value never is).
  std::string value_after(const Token& keyword) {
    const std::optional<Token> value = next();
    if (!value)
      fail(keyword.line,
           "\"" + std::string(keyword.text) + "\" has no value at the end of the file");
    return std::string(value->text);
  }

  // A macdef body runs from the next line up to an empty line (or the end of the file).
  void skip_macro() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    while (pos_ < text_.size()) {
      advance();  // the '\n'
      std::size_t end = pos_;
      while (end < text_.size() && text_[end] != '\n' && is_space(text_[end])) ++end;
      if (end == text_.size() || text_[end] == '\n') return;
      while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
    }
  }

  [[noreturn]] void fail(int line, const std::string& why) const {
    throw ConfigError(name_ + ":" + std::to_string(line) + ": " + why);
  }

private:
  void advance() {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }

  std::string_view text_;
  const std::string& name_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

std::vector<NetrcEntry> parse_netrc(std::string_view text, const std::string& name) {
  Tokenizer tokens(text, name);
  std::vector<NetrcEntry> entries;
  while (const std::optional<Token> token = tokens.next()) {
    const std::string_view word = token->text;
    if (word == "machine") {
      entries.push_back(NetrcEntry{tokens.value_after(*token), false, {}, {}, token->line});
    } else if (word == "default") {
      entries.push_back(NetrcEntry{{}, true, {}, {}, token->line});
    } else if (word == "macdef") {
      tokens.value_after(*token);
      tokens.skip_macro();
    } else if (word == "login" || word == "password" || word == "account") {
      // Held as a Secret whatever the keyword, so that no path (the throw below included)
      // leaves a password's bytes in freed memory.
      Secret value(tokens.value_after(*token));
      if (entries.empty())
        tokens.fail(token->line,
                    "\"" + std::string(word) + "\" comes before any machine or default entry");
      if (word == "login")
        entries.back().login = std::string(value.view());
      else if (word == "password")
        entries.back().password = std::move(value);
    } else {
      // Not echoed: a stray token is often the second half of a password with a space in it.
      tokens.fail(
          token->line,
          "unexpected token (expected machine, default, login, password, account or macdef; "
          "values with spaces are not supported)");
    }
  }
  return entries;
}

const NetrcEntry* find_netrc_entry(const std::vector<NetrcEntry>& entries, std::string_view host,
                                   std::string_view login, bool* other_logins) {
  const auto usable = [&](const NetrcEntry& e) { return !e.login || *e.login == login; };
  bool seen_other = false;
  for (const NetrcEntry& e : entries) {
    if (e.is_default || !iequals(e.machine, host)) continue;
    if (usable(e)) return &e;
    seen_other = true;
  }
  if (other_logins) *other_logins = seen_other;
  for (const NetrcEntry& e : entries)
    if (e.is_default && usable(e)) return &e;
  return nullptr;
}

}  // namespace pnsync::config::detail
