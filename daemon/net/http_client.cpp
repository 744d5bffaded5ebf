// SPDX-License-Identifier: MIT
#include "daemon/net/http_client.hpp"

#include "daemon/net/connect_deadline.hpp"
#include "daemon/net/curl_handles.hpp"
#include "daemon/net/http_policy.hpp"
#include "daemon/net/receive_pacer.hpp"

#include "config/values.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include <sys/socket.h>
#include <unistd.h>

namespace pnsync {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One request in flight: the state curl's callbacks write into.
struct Call {
  GetRequest request;
  std::function<void(const HttpOutcome&)> done;
  HttpOutcome outcome;
  char error_buffer[CURL_ERROR_SIZE] = {};
  std::string range;
  curl::Slist headers;                // request headers of our own; curl keeps only the pointer
  int* answered_in_flight = nullptr;  // the client's count, while this call is counted in it
  bool answered = false;
  CURL* handle = nullptr;
  ReceivePacer* pacer = nullptr;  // the client's, when request.budgets pace this call

  Call() = default;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  // A call ends (completed or cancelled) when the last handler holding it goes.
  ~Call() {
    if (answered) --*answered_in_flight;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* self) {
    auto* call = static_cast<Call*>(self);
    apply_header_line(call->outcome.info, std::string_view(data, size * count));
    const long status = call->outcome.info.status;
    if (!call->answered && status >= 200 && status < 300 && call->answered_in_flight) {
      call->answered = true;
      ++*call->answered_in_flight;
    }
    return size * count;
  }

  static size_t on_body(char* data, size_t size, size_t count, void* self) {
    auto* call = static_cast<Call*>(self);
    const size_t bytes = size * count;
    if (call->pacer &&
        !call->pacer->admit(call->handle, call->request.budgets, static_cast<std::int64_t>(bytes)))
      return CURL_WRITEFUNC_PAUSE;  // curl keeps the chunk and hands it over again on resume
    if (call->request.on_body &&
        !call->request.on_body(call->outcome.info, std::string_view(data, bytes))) {
      return 0;  // abort: curl reports CURLE_WRITE_ERROR
    }
    call->outcome.body_bytes += static_cast<std::int64_t>(bytes);
    return bytes;
  }
};

// Adds the certificates of the PEM file `path` to the store curl verifies with; called for each
// new connection, after curl has loaded the system's CAs into that store.
CURLcode add_ca_file(CURL*, void* ssl_ctx, void* path) {
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (store == nullptr || X509_STORE_load_file(store, static_cast<const char*>(path)) != 1)
    return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

// Which CAs verify the server. CURLOPT_CAINFO alone would not say it: it replaces libcurl's
// default bundle but leaves its default CAPATH (/etc/ssl/certs on Debian), so a ca_file set that
// way "replaced" the system's CAs with ca_file plus the same CAs again. Hence:
//  - ca_replace_system: ca_file is the bundle and there is no directory;
//  - otherwise the system's bundle and directory stay, and ca_file is added to the store curl
//    built from them (CURLOPT_SSL_CTX_FUNCTION).
void apply_trust(CURL* handle, const HttpSettings& settings) {
  if (settings.ca_file && settings.ca_replace_system) {
    curl_easy_setopt(handle, CURLOPT_CAINFO, settings.ca_file->c_str());
    curl_easy_setopt(handle, CURLOPT_CAPATH, nullptr);
    return;
  }
  if (settings.system_cas) {
    const auto& cas = *settings.system_cas;
    curl_easy_setopt(handle, CURLOPT_CAINFO, cas.file ? cas.file->c_str() : nullptr);
    curl_easy_setopt(handle, CURLOPT_CAPATH, cas.dir ? cas.dir->c_str() : nullptr);
  }
  if (settings.ca_file) {
    curl_easy_setopt(handle, CURLOPT_SSL_CTX_FUNCTION, &add_ca_file);
    // The settings outlive every handle made from them (HttpClient, connect_only).
    // curl passes its user data as void*; add_ca_file only reads the path.
    curl_easy_setopt(handle, CURLOPT_SSL_CTX_DATA,
                     // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast)
                     static_cast<void*>(const_cast<char*>(settings.ca_file->c_str())));
  }
}

// Transport policy shared by every request and connect_only(): which protocols, where TLS trust
// comes from, how long connecting may take, and who we say we are.
void apply_connection_policy(CURL* handle, const HttpSettings& settings, const std::string& url) {
  const char* protocols = settings.allow_plain_http ? "http,https" : "https";
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  // Redirects are answers we interpret (a directory's trailing slash), never followed blindly:
  // credentials must not travel to another host.
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, settings.user_agent.c_str());
  apply_trust(handle, settings);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.connect_timeout.count() * 1000));
}

// The header itself rather than CURLOPT_TIMECONDITION: with that option curl also judges a 200
// by its Last-Modified and, when the date is not newer, drops the body and reports 304 while the
// status line we parse said 200 (lib/http.c, "Simulate an HTTP 304 response"). A server that
// ignores the condition must hand over its whole answer. A date no IMF-fixdate can carry sends
// no condition: the request is then plain.
void add_if_modified_since(CURL* handle, Call& call) {
  const auto date = format_imf_fixdate(*call.request.if_modified_since);
  if (!date) return;
  call.headers.reset(curl_slist_append(nullptr, ("If-Modified-Since: " + *date).c_str()));
  if (call.headers) curl_easy_setopt(handle, CURLOPT_HTTPHEADER, call.headers.get());
}

// The handshake failed after the TCP connection was made.
bool tls_failure(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return true;
    default:
      return false;
  }
}

}  // namespace

HttpSettings make_http_settings(const config::Config& config,
                                const std::optional<config::Secret>& password) {
  const auto origin = config::detail::parse_origin(config.server);
  HttpSettings settings;
  settings.user_agent = config.user_agent;
  if (config.credentials) settings.username = config.credentials->username;
  settings.password = password;
  settings.ca_file = config.ca_file;
  settings.ca_replace_system = config.ca_replace_system;
  settings.allow_plain_http = origin.value && origin.value->scheme == "http" &&
                              config::detail::is_loopback_host(origin.value->host);
  settings.connect_timeout = config.connect_timeout;
  settings.stall_timeout = config.stall_timeout;
  settings.max_connections = config.max_connections;
  settings.streams_per_connection = config.streams_per_connection;
  return settings;
}

ConnectOutcome connect_only(const HttpSettings& settings, const std::string& url) {
  ConnectOutcome outcome;
  outcome.url = url;
  const curl::Easy easy(curl_easy_init());
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  char error_buffer[CURL_ERROR_SIZE] = {};
  apply_connection_policy(easy.get(), settings, url);
  curl_easy_setopt(easy.get(), CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(easy.get(), CURLOPT_ERRORBUFFER, error_buffer);
  const CURLcode result = curl_easy_perform(easy.get());
  outcome.curl_code = static_cast<int>(result);
  if (result != CURLE_OK)
    outcome.curl_error = error_buffer[0] ? error_buffer : curl_easy_strerror(result);
  curl_off_t connect_time = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_CONNECT_TIME_T, &connect_time);
  // CURLINFO_CONNECT_TIME_T stays 0 when the TLS handshake fails, so the code says it too.
  outcome.connected = result == CURLE_OK || connect_time > 0 || tls_failure(result);
  const char* ip = nullptr;
  long port = 0;
  if (outcome.connected && curl_easy_getinfo(easy.get(), CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
      ip != nullptr && *ip != '\0' &&
      curl_easy_getinfo(easy.get(), CURLINFO_PRIMARY_PORT, &port) == CURLE_OK) {
    const std::string address(ip);
    outcome.remote = (address.find(':') != std::string::npos ? "[" + address + "]" : address) +
                     ":" + std::to_string(port);
  }
  return outcome;
}

std::string describe_failure(const HttpOutcome& outcome) {
  return outcome.url + ": " +
         (outcome.curl_code != 0 ? outcome.curl_error : status_text(outcome.info.status));
}

std::optional<std::chrono::seconds> requested_wait(const HttpOutcome& outcome,
                                                   std::chrono::seconds cap) {
  const long status = outcome.info.status;
  if (!outcome.info.retry_after || (status != 429 && status != 503)) return std::nullopt;
  const auto wait = parse_retry_after(*outcome.info.retry_after, std::chrono::system_clock::now());
  if (!wait) return std::nullopt;
  return std::min(*wait, std::max(cap, std::chrono::seconds{0}));
}

void apply_header_line(ResponseInfo& info, std::string_view line) {
  line = trim(line);
  if (line.starts_with("HTTP/")) {
    info = ResponseInfo{};
    auto space = line.find(' ');
    if (space != std::string_view::npos) {
      auto rest = line.substr(space + 1);
      long status = 0;
      std::from_chars(rest.data(), rest.data() + rest.size(), status);
      info.status = status;
    }
    return;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return;
  auto name = trim(line.substr(0, colon));
  auto value = std::string(trim(line.substr(colon + 1)));
  if (iequals(name, "content-length")) {
    std::int64_t length = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec == std::errc{} && end == value.data() + value.size() && length >= 0)
      info.content_length = length;
  } else if (iequals(name, "content-range")) {
    info.content_range = value;
  } else if (iequals(name, "retry-after")) {
    info.retry_after = value;
  } else if (iequals(name, "last-modified")) {
    info.last_modified = value;
  } else if (iequals(name, "location")) {
    info.location = value;
  }
}

struct HttpClient::Impl {
  Impl(boost::asio::io_context& io, HttpSettings http_settings)
      : settings(std::move(http_settings)),
        engine(io),
        pacer(io, [this](CURL* easy) { engine.resume(easy); }) {
    if (!share) throw std::runtime_error("curl_share_init failed");
    // One DNS cache, TLS session cache, connection pool and cookie jar for every request: the
    // server then sees one polite client, and its session cookie spares it password checks.
    curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    set_connection_limit(settings.max_connections, settings.streams_per_connection);
  }

  void set_connection_limit(long connections, long streams) {
    engine.set_max_host_connections(connections);
    // The pool keeps no more idle connections than the limit: after a lowering, the ones over it
    // close as their requests end instead of being reused (curl reuses any open connection,
    // whatever the host limit).
    engine.set_max_connects(connections);
    engine.set_max_streams_per_connection(streams);
  }

  // A request that made a new connection tells how long its handshake took (connect_deadline).
  void observe_handshake(CURL* handle, const HttpOutcome& outcome) {
    long connects = 0;
    if (!outcome.request_sent ||
        curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK || connects == 0)
      return;
    curl_off_t handshake = 0;  // microseconds; TLS done (0 for plain http: the TCP connect)
    if (curl_easy_getinfo(handle, CURLINFO_APPCONNECT_TIME_T, &handshake) != CURLE_OK ||
        handshake == 0)
      curl_easy_getinfo(handle, CURLINFO_CONNECT_TIME_T, &handshake);
    connect_deadline.observe(std::chrono::duration_cast<ConnectDeadline::Duration>(
        std::chrono::microseconds(handshake)));
  }

  // Sockets are opened and closed through these so that the connections open at any moment
  // can be counted (curl has no such counter); every connection keeps the callbacks of the
  // handle that opened it, and all handles share these.
  static curl_socket_t open_socket(void* self, curlsocktype, curl_sockaddr* address) {
    const curl_socket_t socket = ::socket(address->family, address->socktype, address->protocol);
    if (socket != CURL_SOCKET_BAD) ++static_cast<Impl*>(self)->sockets_open;
    return socket;
  }
  static int close_socket(void* self, curl_socket_t socket) {
    --static_cast<Impl*>(self)->sockets_open;
    return ::close(socket);
  }

  HttpSettings settings;
  ConnectDeadline connect_deadline{settings.connect_timeout};
  std::function<void(const HttpOutcome&)> observer;
  curl::Share share{curl_share_init()};
  // Before `engine`: its connections close into the first, and its calls end into the second,
  // when it is destroyed.
  int sockets_open = 0;
  int answered_in_flight = 0;
  CurlEngine engine;
  // Resumes the engine's transfers, so it is declared after it and goes first; a transfer that
  // ends or is cancelled leaves it at once.
  ReceivePacer pacer;

  curl::Easy make_easy(Call& call) {
    curl::Easy easy(curl_easy_init());
    if (!easy) return easy;
    CURL* handle = easy.get();
    apply_connection_policy(handle, settings, call.request.url);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(connect_deadline.timeout().count()));
    if (settings.username) {
      // Basic only: curl then sends the credentials with the first request instead of waiting
      // for a 401, saving a round trip per file.
      curl_easy_setopt(handle, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(handle, CURLOPT_USERNAME, settings.username->c_str());
      curl_easy_setopt(handle, CURLOPT_PASSWORD,
                       settings.password ? settings.password->c_str() : "");
    }
    curl_easy_setopt(handle, CURLOPT_SHARE, share.get());
    curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, &Impl::open_socket);
    curl_easy_setopt(handle, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, &Impl::close_socket);
    curl_easy_setopt(handle, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(handle, CURLOPT_COOKIEFILE, "");  // in-memory cookie engine
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    // A stall is "under one byte per second for stall_timeout".
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(settings.stall_timeout.count()));
    // A large receive buffer: fewer recv(2) calls and body callbacks per byte on fast links. 512
    // KiB was curl's ceiling before 7.88; until 8.7 each handle allocates its own (only the pages
    // actually filled cost memory), so it is not raised further.
    curl_easy_setopt(handle, CURLOPT_BUFFERSIZE, 512L * 1024L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, call.error_buffer);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &Call::on_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &call);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &Call::on_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &call);
    if (call.request.head) curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    if (call.request.compressed) curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");
    if (call.request.range_to || (call.request.range_from && *call.request.range_from > 0)) {
      // CURLOPT_RANGE rather than RESUME_FROM: a server that ignores the range (200) must hand
      // us the whole body to start over, not fail the transfer with CURLE_RANGE_ERROR.
      call.range = std::to_string(call.request.range_from.value_or(0)) + "-";
      if (call.request.range_to) call.range += std::to_string(*call.request.range_to);
      curl_easy_setopt(handle, CURLOPT_RANGE, call.range.c_str());
    }
    if (call.request.if_modified_since) add_if_modified_since(handle, call);
    call.handle = handle;
    if (!call.request.budgets.empty()) call.pacer = &pacer;
    return easy;
  }
};

HttpClient::HttpClient(boost::asio::io_context& io, HttpSettings settings)
    : impl_(std::make_unique<Impl>(io, std::move(settings))) {}

HttpClient::~HttpClient() = default;

HttpClient::RequestId HttpClient::get(GetRequest request,
                                      std::function<void(const HttpOutcome&)> done) {
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->done = std::move(done);
  call->outcome.url = call->request.url;
  call->answered_in_flight = &impl_->answered_in_flight;
  curl::Easy easy = impl_->make_easy(*call);
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  return impl_->engine.start(
      std::move(easy), [call, impl = impl_.get()](CURL* handle, CURLcode result) {
        if (call->pacer) call->pacer->forget(handle);
        call->outcome.curl_code = static_cast<int>(result);
        curl_off_t to_headers = 0;
        if (curl_easy_getinfo(handle, CURLINFO_STARTTRANSFER_TIME_T, &to_headers) == CURLE_OK)
          call->outcome.seconds_to_headers = static_cast<double>(to_headers) / 1e6;
        curl_off_t to_request = 0;
        call->outcome.request_sent =
            curl_easy_getinfo(handle, CURLINFO_PRETRANSFER_TIME_T, &to_request) == CURLE_OK &&
            to_request > 0;
        impl->observe_handshake(handle, call->outcome);
        if (result != CURLE_OK) {
          call->outcome.curl_error =
              call->error_buffer[0] ? call->error_buffer : curl_easy_strerror(result);
        }
        if (impl->observer) impl->observer(call->outcome);
        call->done(call->outcome);
      });
}

void HttpClient::cancel(RequestId id) {
  impl_->pacer.forget(static_cast<CURL*>(id));
  impl_->engine.cancel(static_cast<CURL*>(id));
}

void HttpClient::close_connection_after(RequestId id) {
  impl_->engine.close_connection_after(static_cast<CURL*>(id));
}

std::size_t HttpClient::active() const {
  return impl_->engine.active();
}

void HttpClient::set_observer(std::function<void(const HttpOutcome&)> observer) {
  impl_->observer = std::move(observer);
}

void HttpClient::set_connection_limit(long connections, long streams) {
  impl_->set_connection_limit(connections, streams);
}

int HttpClient::open_connections() const {
  return impl_->sockets_open;
}

int HttpClient::answered_in_flight() const {
  return impl_->answered_in_flight;
}

}  // namespace pnsync
