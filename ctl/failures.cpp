// SPDX-License-Identifier: MIT
#include "ctl/failures.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "protocol/codec.hpp"

namespace pnsync::ctl {
namespace {

// Writes the failures array element by element, exactly as result_json writes it whole.
class JsonArrayWriter {
public:
  JsonArrayWriter(std::FILE* out, int indent) : out_(out), indent_(indent) {}
  void add(const protocol::FailedFile& failed) {
    std::string text = protocol::failure_json(failed, indent_);
    if (indent_ >= 0) {
      const std::string margin(static_cast<std::size_t>(indent_), ' ');
      for (std::size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 1))
        text.insert(at + 1, margin);
      text = (count_ == 0 ? "[\n" : ",\n") + margin + text;
    } else {
      text = (count_ == 0 ? "[" : ",") + text;
    }
    std::fputs(text.c_str(), out_);
    ++count_;
  }
  void finish() {
    if (count_ == 0)
      std::fputs("[]\n", out_);
    else
      std::fputs(indent_ >= 0 ? "\n]\n" : "]\n", out_);
  }

private:
  std::FILE* out_;
  int indent_;
  std::size_t count_ = 0;
};

}  // namespace

ExitStatus print_failures(ControlClient& client, protocol::Request request,
                          std::optional<std::int64_t> limit, const OutputOptions& options,
                          std::FILE* out, std::FILE* err) {
  JsonArrayWriter json(out, options.json_indent);
  std::int64_t shown = 0;
  bool more = false;
  request.cursor.reset();
  for (;;) {
    const std::int64_t left = limit ? *limit - shown : protocol::kDefaultFailuresPage;
    request.limit = std::min<std::int64_t>(left, protocol::kDefaultFailuresPage);
    Result<protocol::Response> answer = client.call(request);
    const bool failed = !answer || !answer->ok() || !answer->failures;
    if (failed) {
      // What was printed stays valid: the array is closed, the reason goes to stderr.
      if (options.json && shown > 0) json.finish();
      if (!answer) {
        std::fprintf(err, "pnsyncctl: %s\n", answer.error().message.c_str());
        return answer.error().kind == ErrorKind::Network ? ExitStatus::Unreachable
                                                         : ExitStatus::DaemonError;
      }
      if (shown == 0 && !answer->ok()) return print_answer(*answer, request, options, out, err);
      std::fprintf(err, "pnsyncctl: %s\n",
                   answer->ok() ? "pnsyncd answered failures without a list of failures"
                                : answer->message.c_str());
      return ExitStatus::DaemonError;
    }
    std::vector<protocol::FailedFile> page = std::move(*answer->failures);
    if (limit && static_cast<std::int64_t>(page.size()) > *limit - shown) {
      page.resize(static_cast<std::size_t>(*limit - shown));  // a daemon older than paging
      more = true;
    }
    if (options.json) {
      for (const protocol::FailedFile& failed_file : page) json.add(failed_file);
    } else {
      std::fputs(render_failure_rows(page, options.render, shown == 0).c_str(), out);
    }
    shown += static_cast<std::int64_t>(page.size());
    std::fflush(out);
    if (!answer->next_cursor) break;
    if (limit && shown >= *limit) {
      more = true;
      break;
    }
    if (page.empty()) break;  // a daemon that says "more" but sends none would loop forever
    request.cursor = answer->next_cursor;
  }
  if (options.json)
    json.finish();
  else
    std::fputs(render_failures_end(shown, more).c_str(), out);
  return ExitStatus::Ok;
}

}  // namespace pnsync::ctl
