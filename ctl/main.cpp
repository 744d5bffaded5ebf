// SPDX-License-Identifier: MIT
// pnsyncctl: talks to pnsyncd over its control socket and renders the answers. It only speaks
// docs/control-protocol.md, so scripts can do everything it does.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "ctl/client.hpp"
#include "ctl/commands.hpp"
#include "ctl/exit_status.hpp"
#include "ctl/failures.hpp"
#include "ctl/options.hpp"
#include "ctl/output.hpp"
#include "ctl/watch.hpp"

namespace {

using namespace pnsync::ctl;

constexpr const char* kOptionsHelp = R"(
Options (before or after the command):
      --json           print the documented JSON objects (docs/control-protocol.md) instead
                       of text; `watch --json` prints one status object per line
      --socket PATH    pnsyncd's control socket
      --config FILE    read `socket:` from pnsyncd's configuration file; for doctor, the
                       configuration to check (default /etc/pnsync/pnsync.yaml)
      --limit N        failures: show the first N only (default: all, a page at a time)
  -h, --help           this text
      --version        print the version

The socket is --socket, else `socket:` of --config, else /run/pnsync/pnsyncd.sock.
MIRROR is project/version as in the configuration, e.g. mimic-cxr/2.0.0. Changing commands
(pause, resume, sync, retry, verify, limit, transfers) need root, pnsyncd's user or a member
of its control_group; anyone who may connect may read status, failures and plan.

Exit status:
  0  success
  1  pnsyncd reported an error (not permitted, unknown mirror, ...), or its answer was unreadable
  2  bad command line, or a --config file that cannot be read
  6  pnsyncd not reachable: no socket, permission denied, connection refused, no answer
doctor exits as pnsyncd --doctor does: 0 nothing failed (warnings allowed), 1 a check failed;
127 when pnsyncd is not found (next to pnsyncctl, ../sbin, on $PATH or /usr/sbin).
)";

void print_help() {
  std::string text =
      "Usage: pnsyncctl [options] COMMAND [ARGS]\n\nControls pnsyncd, the "
      "PhysioNet mirror daemon.\n\nCommands:\n";
  for (const CommandSpec& command : commands()) {
    std::string synopsis(command.synopsis);
    synopsis.resize(std::max<std::size_t>(synopsis.size() + 2, 22), ' ');
    text += "  " + synopsis + std::string(command.help) + "\n";
  }
  std::fputs((text + kOptionsHelp).c_str(), stdout);
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "pnsyncctl: %s\nTry 'pnsyncctl --help'.\n", message.c_str());
  return code(ExitStatus::Usage);
}

int run(const Invocation& invocation) {
  const CommandSpec* command = find_command(invocation.command);
  if (command == nullptr) return usage_error("unknown command " + invocation.command);
  if (command->run_here != nullptr) return command->run_here(invocation);
  const ParsedRequest request = command->parse(command->name, invocation.args);
  if (!request.value) return usage_error(request.error);
  if (invocation.limit && !command->pages)
    return usage_error(invocation.command + ": --limit is an option of failures only");

  SocketChoice socket;
  try {
    socket = choose_socket(invocation);
  } catch (const pnsync::config::ConfigError& error) {
    return usage_error(error.what());
  }
  pnsync::Result<ControlClient> client = ControlClient::connect(socket.path);
  if (!client) {
    const bool unreachable = client.error().kind == pnsync::ErrorKind::Network;
    std::fprintf(stderr, "pnsyncctl: %s%s\n", client.error().message.c_str(),
                 unreachable ? (" [socket: " + socket.origin + "]").c_str() : "");
    return code(unreachable ? ExitStatus::Unreachable : ExitStatus::DaemonError);
  }

  OutputOptions output{invocation.json, 2, probe_terminal(stdout)};
  if (command->redraws) return code(watch(*client, *request.value, output));
  if (command->pages)
    return code(print_failures(*client, *request.value, invocation.limit, output, stdout, stderr));
  pnsync::Result<pnsync::protocol::Response> answer = client->call(*request.value);
  if (!answer) {
    std::fprintf(stderr, "pnsyncctl: %s\n", answer.error().message.c_str());
    return code(answer.error().kind == pnsync::ErrorKind::Network ? ExitStatus::Unreachable
                                                                  : ExitStatus::DaemonError);
  }
  return code(print_answer(*answer, *request.value, output, stdout, stderr));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const auto invocation = parse_command_line(args);
    if (!invocation.value) return usage_error(invocation.error);
    if (invocation.value->help) {
      print_help();
      return code(ExitStatus::Ok);
    }
    if (invocation.value->version) {
      std::printf("pnsyncctl %s (control protocol %d)\n", PNSYNC_VERSION,
                  pnsync::protocol::kProtocolVersion);
      return code(ExitStatus::Ok);
    }
    return run(*invocation.value);
  } catch (const std::exception& error) {
    // Failures come back as Results; an exception here is a bug or memory running out, and is
    // reported like any other failure rather than ending in std::terminate.
    std::fprintf(stderr, "pnsyncctl: %s\n", error.what());
    return code(ExitStatus::DaemonError);
  }
}
