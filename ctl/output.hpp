// SPDX-License-Identifier: MIT
// Turning an answer into pnsyncctl's output and exit status, in one place for every command:
// rendered text on stdout (errors on stderr), or with --json the documented objects.
#pragma once

#include <cstdio>
#include <string>

#include "ctl/exit_status.hpp"
#include "ctl/render.hpp"
#include "protocol/messages.hpp"

namespace pnsync::ctl {

struct OutputOptions {
  bool json = false;
  int json_indent = 2;  // -1: one line per object (watch --json writes JSON lines)
  RenderOptions render;
};

// Terminal width and whether stdout is a terminal that takes colours (NO_COLOR turns them off).
RenderOptions probe_terminal(std::FILE* out);

// The text for a successful answer; `request` narrows a status to the mirror asked for.
std::string answer_text(const protocol::Response& response, const protocol::Request& request,
                        const OutputOptions& options);
// Prints the answer (an error goes to `err` as "pnsyncctl: MESSAGE", or with --json to `out`
// as {"error": ..., "message": ...}) and returns the exit status.
ExitStatus print_answer(const protocol::Response& response, const protocol::Request& request,
                        const OutputOptions& options, std::FILE* out, std::FILE* err);

}  // namespace pnsync::ctl
