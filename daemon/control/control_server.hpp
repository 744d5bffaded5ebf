// SPDX-License-Identifier: MIT
// pnsyncd's control socket: a Unix stream socket on the daemon's io_context where pnsyncctl
// (or any script speaking docs/control-protocol.md) asks for status and gives commands.
//
// The server owns the socket file (stale ones are replaced, live ones refused, ours removed on
// close), accepts clients, reads their credentials from the kernel and hands each client to a
// ControlConnection. Who may do what is ControlDispatcher's and AccessPolicy's business; what a
// method does is the engine's (ControlTarget).
//
// Wiring, in the daemon:
//   ControlServer control(io, engine, log, {config.socket, config.control_group});
//   if (Result<void> opened = control.open(); !opened) { log.error(opened.error().message); ... }
//   ... io.run() ...
//   control.close();  // on SIGTERM, before the engine stops; the destructor closes too
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/log.hpp"
#include "common/result.hpp"
#include "daemon/control/control_target.hpp"

namespace pnsync {

struct ControlServerSettings {
  std::filesystem::path socket;              // config `socket:`
  std::optional<std::string> control_group;  // config `control_group:`
  // The defaults are the daemon's; tests set shorter and smaller ones.
  // A client that in this long neither completes a request line nor takes any of its answers is
  // closed: connecting and sending nothing (or half a line) must not hold a slot for good.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Connections at once. Each costs a descriptor and buffers, so there are bounds; and so that
  // no other user's clients can lock out the people who may change things, root and the
  // daemon's own user draw on a pool of their own.
  std::size_t max_per_uid = 16;      // any one uid other than root and the daemon's
  std::size_t max_connections = 64;  // all uids other than root and the daemon's, together
  std::size_t max_privileged = 64;   // root and the daemon's own uid, together
};

class ControlServer {
public:
  // `target` and `log` must outlive the server. Nothing happens until open().
  ControlServer(boost::asio::io_context& io, ControlTarget& target, Log& log,
                ControlServerSettings settings);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Resolves control_group, clears a stale socket, binds, sets mode 0660 and the daemon's group,
  // listens and starts accepting on the io_context. Every error message names the socket path
  // or the setting at fault. Call once.
  Result<void> open();
  // Stops accepting, closes every connection and removes the socket file. Idempotent.
  void close();

  const std::filesystem::path& socket_path() const { return settings_.socket; }

private:
  struct Listener;  // what accept handlers share; defined in control_server.cpp

  boost::asio::io_context& io_;
  ControlTarget& target_;
  Log& log_;
  ControlServerSettings settings_;
  // Shared with pending accept handlers, which may still run after close() or after the server
  // is gone; they find it closed and return.
  std::shared_ptr<Listener> listener_;
};

}  // namespace pnsync
