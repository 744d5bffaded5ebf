// SPDX-License-Identifier: MIT
#include "daemon/control/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <vector>

#include "daemon/control/control_access.hpp"
#include "daemon/control/control_connection.hpp"
#include "daemon/control/control_dispatcher.hpp"
#include "daemon/control/socket_file.hpp"
#include "daemon/net/asio_cancel.hpp"
#include "protocol/codec.hpp"

namespace pnsync {

namespace asio = boost::asio;
using Protocol = asio::local::stream_protocol;

namespace {

// A client turned away before it is served gets one answer line saying why (pnsyncctl shows
// it), then the connection closes. Best effort: the socket is new, so its send buffer has room
// for a line, and a client that has gone already loses nothing.
void refuse(Protocol::socket& socket, const std::string& message) {
  protocol::Response response;
  response.error = protocol::ErrorCode::Failed;
  response.message = message;
  const std::string line = protocol::encode(response);
  const int fd = socket.native_handle();
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  // Closing with the client's request unread would make Linux reset the connection
  // (ECONNRESET) instead of letting the client read the line: take in what it sent so far.
  std::array<char, 4096> discard{};
  while (::recv(fd, discard.data(), discard.size(), MSG_DONTWAIT) > 0) {
  }
}

}  // namespace

struct ControlServer::Listener : std::enable_shared_from_this<Listener> {
  Listener(asio::io_context& io, std::string socket_path, Protocol::acceptor bound,
           ControlDispatcher dispatch, Log& log_to, SocketFile file, ControlServerSettings limits,
           uid_t own_uid)
      : path(std::move(socket_path)),
        acceptor(std::move(bound)),
        retry(io),
        dispatcher(std::move(dispatch)),
        log(log_to),
        socket_file(std::move(file)),
        settings(std::move(limits)),
        daemon_uid(own_uid) {}

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

  bool privileged(uid_t uid) const { return uid == 0 || uid == daemon_uid; }

  // Why a new connection from `uid` is turned away, or "" when it may be served.
  std::string over_limit(uid_t uid) {
    std::erase_if(connections, [](const std::weak_ptr<ControlConnection>& weak) {
      const auto connection = weak.lock();
      return !connection || !connection->is_open();
    });
    std::size_t same_uid = 0;
    std::size_t same_pool = 0;
    for (const std::weak_ptr<ControlConnection>& weak : connections) {
      const auto connection = weak.lock();
      same_uid += connection->peer_uid() == uid;
      same_pool += privileged(connection->peer_uid()) == privileged(uid);
    }
    const std::string idle = " (a client idle for " + idle_text() + " is closed)";
    if (privileged(uid)) {
      if (same_pool < settings.max_privileged) return {};
      return std::to_string(same_pool) +
             " connections of root and the daemon's user are open already" + idle;
    }
    if (same_uid >= settings.max_per_uid)
      return "uid " + std::to_string(uid) + " has " + std::to_string(same_uid) +
             " connections to pnsyncd open already, the most one user may have; close some" + idle;
    if (same_pool >= settings.max_connections)
      return std::to_string(same_pool) +
             " connections of other users are open already; try again later" + idle;
    return {};
  }

  std::string idle_text() const {
    const auto ms = settings.idle_timeout.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
  }

  void admit(Protocol::socket socket) {
    Result<PeerCredentials> peer = peer_credentials(socket.native_handle());
    if (!peer) {
      log.warning("control: " + peer.error().message);
      return;  // the socket closes as it goes out of scope
    }
    if (const std::string why = over_limit(peer->uid); !why.empty()) {
      log.warning("control: refusing a client of uid " + std::to_string(peer->uid) + " (pid " +
                  std::to_string(peer->pid) + ") on " + path + ": " + why);
      refuse(socket, why);
      return;
    }
    auto connection = std::make_shared<ControlConnection>(
        std::move(socket), std::move(peer).value(), dispatcher, log, settings.idle_timeout);
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
  ControlServerSettings settings;
  uid_t daemon_uid;
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

  listener_ =
      std::make_shared<Listener>(io_, path.string(), std::move(acceptor),
                                 ControlDispatcher(target_, std::move(policy).value()), log_,
                                 std::move(socket_file).value(), settings_, ::geteuid());
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
