// SPDX-License-Identifier: MIT
#include "ctl/output.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "common/text.hpp"
#include "protocol/codec.hpp"

namespace pnsync::ctl {
namespace {

// Every string of an answer comes from the daemon, and many from the server behind it (names in
// listings, error pages, CSV headers): on a terminal they are shown escaped, never interpreted.
// JSON output needs none of this: the encoder escapes control characters itself.
void make_printable(protocol::Response& response) {
  const auto fix = [](std::string& text) { text = printable(text); };
  fix(response.message);
  if (response.status) {
    fix(response.status->version);
    fix(response.status->transfers_reason);
    fix(response.status->connections.reason);
    for (auto& mirror : response.status->mirrors) {
      for (auto* text :
           {&mirror.name, &mirror.dest, &mirror.state, &mirror.reason, &mirror.warning})
        fix(*text);
      for (auto& transfer : mirror.transfers) fix(transfer.path);
    }
  }
  if (response.failures)
    for (auto& failed : *response.failures)
      for (auto* text : {&failed.mirror, &failed.path, &failed.last_error}) fix(*text);
  if (response.plans)
    for (auto& plan : *response.plans) {
      fix(plan.mirror);
      for (auto& path : plan.sample) fix(path);
    }
}

}  // namespace

RenderOptions probe_terminal(std::FILE* out) {
  RenderOptions options;
  options.now_unix = std::time(nullptr);
  const int fd = ::fileno(out);
  options.tty = ::isatty(fd) == 1 && std::getenv("NO_COLOR") == nullptr;
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    options.width = size.ws_col;
  } else if (const char* columns = std::getenv("COLUMNS"); columns != nullptr) {
    const long parsed = std::strtol(columns, nullptr, 10);
    if (parsed > 20 && parsed < 10000) options.width = static_cast<std::size_t>(parsed);
  }
  return options;
}

std::string answer_text(const protocol::Response& response, const protocol::Request& request,
                        const OutputOptions& options) {
  protocol::Response shown = response;
  // The daemon narrows a status to the mirror asked for; this keeps the promise even if a
  // daemon answers with every mirror.
  if (shown.status && !request.mirror.empty())
    std::erase_if(shown.status->mirrors, [&](const protocol::MirrorStatus& mirror) {
      return mirror.name != request.mirror;
    });
  if (options.json) return protocol::result_json(shown, options.json_indent);
  make_printable(shown);
  if (shown.status) return render_status(*shown.status, options.render);
  if (shown.failures) return render_failures(*shown.failures, options.render);
  if (shown.plans) return render_plans(*shown.plans, options.render);
  return shown.message.empty() ? std::string() : shown.message + "\n";
}

ExitStatus print_answer(const protocol::Response& response, const protocol::Request& request,
                        const OutputOptions& options, std::FILE* out, std::FILE* err) {
  if (!response.ok()) {
    if (options.json)
      std::fputs(protocol::result_json(response, options.json_indent).c_str(), out);
    else
      std::fprintf(err, "pnsyncctl: %s\n", printable(response.message).c_str());
    return ExitStatus::DaemonError;
  }
  std::fputs(answer_text(response, request, options).c_str(), out);
  return ExitStatus::Ok;
}

}  // namespace pnsync::ctl
