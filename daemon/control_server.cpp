// SPDX-License-Identifier: MIT
#include "daemon/control_server.hpp"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <vector>

#include "daemon/asio_cancel.hpp"
#include "daemon/control_access.hpp"
#include "daemon/control_connection.hpp"
#include "daemon/control_dispatcher.hpp"
#include "daemon/socket_file.hpp"

namespace pnsync {

namespace asio = boost::asio;
using Protocol = asio::local::stream_protocol;

struct ControlServer::Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io, std::string socket_path, Protocol::acceptor bound,
           ControlDispatcher dispatch, Log& log_to, SocketFile file)
      : path(std::move(socket_path)),
        acceptor(std::move(bound)),
        retry(io),
        dispatcher(std::move(dispatch)),
        log(log_to),
        socket_file(std::move(file)) {}

  void accept_next() {
    acceptor.async_accept([self = shared_from_this()](const boost::system::error_code& error,
                                                      Protocol::socket socket) {
      self->on_accept(error, std::move(socket));
    });
  }

  void on_accept(const boost::system::error_code& error, Protocol::socket socket) {
    if (closed) return;
    if (error) {
      // Out of descriptors (EMFILE) and the like: accepting again at once would spin, so wait.
      log.warning("control: accept on " + path + " failed: " + error.message());
      retry.expires_after(std::chrono::milliseconds(200));
      retry.async_wait([self = shared_from_this()](const boost::system::error_code& waited) {
        if (!waited && !self->closed) self->accept_next();
      });
      return;
    }
    admit(std::move(socket));
    accept_next();
  }

  void admit(Protocol::socket socket) {
    std::erase_if(connections, [](const std::weak_ptr<ControlConnection>& weak) {
      const auto connection = weak.lock();
      return !connection || !connection->is_open();
    });
    if (connections.size() >= kMaxConnections) {
      log.warning("control: " + std::to_string(kMaxConnections) + " clients connected to " + path +
                  " already; refusing another");
      return;  // the socket closes as it goes out of scope
    }
    Result<PeerCredentials> peer = peer_credentials(socket.native_handle());
    if (!peer) {
      log.warning("control: " + peer.error().message);
      return;
    }
    auto connection = std::make_shared<ControlConnection>(std::move(socket),
                                                          std::move(peer).value(), dispatcher, log);
    connections.push_back(connection);
    connection->start();
  }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    cancel_quietly(retry);
    for (const std::weak_ptr<ControlConnection>& weak : connections)
      if (const auto connection = weak.lock()) connection->close();
    connections.clear();
    socket_file.remove();
  }

  std::string path;  // for log lines
  Protocol::acceptor acceptor;
  asio::steady_timer retry;
  ControlDispatcher dispatcher;
  Log& log;
  SocketFile socket_file;
  std::vector<std::weak_ptr<ControlConnection>> connections;
  bool closed = false;
};

namespace {

Error setup_error(const std::string& what, const std::filesystem::path& path,
                  const boost::system::error_code& error) {
  return Error{ErrorKind::LocalStorage,
               "socket: cannot " + what + " " + path.string() + ": " + error.message(),
               error.value()};
}

}  // namespace

ControlServer::ControlServer(asio::io_context& io, ControlTarget& target, Log& log,
                             ControlServerSettings settings)
    : io_(io), target_(target), log_(log), settings_(std::move(settings)) {}

ControlServer::~ControlServer() {
  close();
}

Result<void> ControlServer::open() {
  const std::filesystem::path& path = settings_.socket;
  if (listener_)
    return Error{ErrorKind::LocalStorage, "socket: " + path.string() + " is open already", 0};
  Result<AccessPolicy> policy = AccessPolicy::make(settings_.control_group, ::geteuid());
  if (!policy) return policy.error();
  if (path.native().size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Error{ErrorKind::LocalStorage,
                 "socket: " + path.string() + " is longer than the " +
                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                     " bytes a Unix socket path may have",
                 ENAMETOOLONG};
  }
  if (Result<void> cleared = clear_stale_socket(path); !cleared) return cleared.error();

  Protocol::acceptor acceptor(io_);
  const Protocol::endpoint endpoint(path.string());
  boost::system::error_code error;
  if (acceptor.open(endpoint.protocol(), error); error)
    return setup_error("create a socket for", path, error);
  if (acceptor.bind(endpoint, error); error) return setup_error("bind", path, error);
  Result<SocketFile> socket_file = SocketFile::claim(path);
  if (!socket_file) return socket_file.error();

  // Before listen(): until then a connect() is refused, so no client ever reaches the socket
  // with the permissions the umask gave it. 0660 and our group: the daemon's group may read
  // status; who may change things is decided per request (AccessPolicy).
  if (::chmod(path.c_str(), 0660) != 0)
    return local_error("socket: cannot set mode 0660 on", path.string(), errno);
  // A setgid parent directory would otherwise hand the socket its own group.
  if (::chown(path.c_str(), static_cast<uid_t>(-1), ::getegid()) != 0)
    return local_error("socket: cannot set the daemon's group on", path.string(), errno);
  if (acceptor.listen(asio::socket_base::max_listen_connections, error); error)
    return setup_error("listen on", path, error);

  listener_ = std::make_shared<Listener>(io_, path.string(), std::move(acceptor),
                                         ControlDispatcher(target_, std::move(policy).value()),
                                         log_, std::move(socket_file).value());
  listener_->accept_next();
  log_.info("control: listening on " + path.string());
  return {};
}

void ControlServer::close() {
  if (!listener_) return;
  listener_->close();
  listener_.reset();  // pending handlers keep it alive until they have run
}

}  // namespace pnsync
