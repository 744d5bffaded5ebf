// SPDX-License-Identifier: MIT
// The control protocol's messages as plain values, shared by pnsyncd (which answers) and
// pnsyncctl (which asks and renders). The wire form, JSON lines, lives in protocol/codec.hpp so
// that only two translation units ever see a JSON library. docs/control-protocol.md is the
// reference for scripts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pnsync::protocol {

inline constexpr int kProtocolVersion = 1;
// A request line longer than this is refused and the connection closed: status requests are
// tiny, and a client must not make the daemon buffer without bound.
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// One file being fetched right now.
struct TransferStatus {
  std::string path;                  // relative to the mirror's dest
  std::int64_t bytes_on_disk = 0;    // wire name "bytes_done"
  std::optional<std::int64_t> size;  // unknown until the listing or the response says
  double rate_bytes_per_s = 0;
  int ranges = 1;  // byte ranges of the file fetched at once (a large file; segments:)
  // Hashing a copy already on disk (an earlier mirror's file, a complete partial) before it is
  // adopted or published; bytes_on_disk then counts the bytes hashed.
  bool checking = false;
  bool operator==(const TransferStatus&) const = default;
};

struct MirrorStatus {
  std::string name;  // "mimic-cxr/2.1.0": project/version, the id every command takes
  std::string dest;
  // listing, syncing, idle, paused, failed, stopped (stopping on SIGTERM).
  std::string state;
  std::string reason;  // why it is paused or failed; empty otherwise
  // Something the operator should fix although the mirror works, e.g. dest readable by others
  // (the data use agreement forbids sharing the data). Empty when all is well.
  std::string warning;
  std::int64_t files_total = 0;
  std::int64_t files_verified = 0;
  std::int64_t files_failed = 0;
  std::int64_t files_unknown_size = 0;  // counted in files_total, not in bytes_total
  std::int64_t bytes_total = 0;
  std::int64_t bytes_verified = 0;     // wire name "bytes_done"
  bool bytes_total_estimated = false;  // the crawl is still going, or some sizes are unknown
  std::int64_t dirs_pending = 0;       // listings still to fetch in this pass
  double rate_bytes_per_s = 0;
  std::optional<std::int64_t> eta_s;           // none while unknowable (no rate, or crawl going on)
  std::optional<std::int64_t> last_sync_unix;  // when the last complete pass ended
  std::optional<std::int64_t> next_sync_unix;  // when the next pass is due (idle state)
  std::int64_t bandwidth_limit = 0;            // bytes/s; 0 = none
  // Adopted files and directories this pass brought to file_mode/dir_mode/group (a dest an
  // earlier `wget -r` filled), and how many of them others could read before.
  std::int64_t modes_closed = 0;
  std::int64_t modes_closed_world_readable = 0;
  std::vector<TransferStatus> transfers;
  bool operator==(const MirrorStatus&) const = default;
};

// Connections to the server and the requests they carry (docs/adaptive.md). All zero and empty
// from a daemon older than the field (and from one that does not fill it yet).
struct ConnectionStatus {
  int open = 0;                    // TCP connections open to the server now
  int limit = 0;                   // the most pnsync opens now (adaptive, at most `max`)
  int max = 0;                     // max_connections (configuration)
  bool adaptive = false;           // the limit is chosen by the controller (not pinned)
  int streams_per_connection = 0;  // requests one connection carries at once (1 = HTTP/1.1 style)
  int requests_in_flight = 0;      // file and listing requests running now
  double rate_per_connection_bytes_per_s = 0;  // aggregate rate / connections carrying data
  std::string reason;                          // "18 connections: connect time-outs at 20"
  bool operator==(const ConnectionStatus&) const = default;
};

struct DaemonStatus {
  std::string version;  // pnsyncd's
  std::int64_t pid = 0;
  std::int64_t started_unix = 0;
  bool paused = false;  // every mirror paused by `pause` without a name
  // The server asked to wait (Retry-After on a 429 or 503): no new request starts before this
  // time; `resume` or `sync` ends it at once. Unset when no hold is in force.
  std::optional<std::int64_t> held_until_unix;
  // Concurrency: the limit on requests in flight, whether it is adaptive (transfers: auto), its
  // ceiling, and why it last changed ("cut to 9 after 3x 429", "48 in flight: +12% at 48").
  int transfers = 0;
  bool transfers_auto = false;
  int max_transfers = 0;
  std::string transfers_reason;
  ConnectionStatus connections;      // the other knob: how many connections carry those requests
  std::int64_t bandwidth_limit = 0;  // bytes/s over all mirrors; 0 = none
  double rate_bytes_per_s = 0;
  std::vector<MirrorStatus> mirrors;
  bool operator==(const DaemonStatus&) const = default;
};

// `failures` answers a page at a time: one line with every failed file of a large mirror would
// pass what a connection may queue (ControlConnection::kMaxQueuedBytes, 8 MiB) and never arrive.
inline constexpr int kDefaultFailuresPage = 1000;  // a request without "limit" (older clients)
inline constexpr int kMaxFailuresPage = 10000;

// Where the next page of failures starts: after this file. Pages run by mirror name, then by
// path. On the wire it is an opaque string; a client only hands back what it was given.
struct FailuresCursor {
  std::string mirror;
  std::string path;
  bool operator==(const FailuresCursor&) const = default;
};

struct FailedFile {
  std::string mirror;
  std::string path;
  std::string last_error;
  int attempts = 0;
  bool operator==(const FailedFile&) const = default;
};

// What `pnsyncctl plan MIRROR` and `pnsyncd --dry-run` show before anything is fetched.
struct Plan {
  std::string mirror;
  std::int64_t files_selected = 0;
  std::int64_t bytes_selected = 0;      // known sizes only
  std::int64_t files_unknown_size = 0;  // selected files whose size is not known yet
  std::int64_t files_verified = 0;      // already verified locally
  std::int64_t files_to_fetch = 0;
  std::int64_t bytes_to_fetch = 0;         // known sizes only
  std::int64_t files_kept_unselected = 0;  // on disk, no longer selected, kept
  bool listing_complete = false;           // false: more files may appear when listed
  std::vector<std::string> sample;         // a few selected paths
  bool operator==(const Plan&) const = default;
};

// Methods (docs/control-protocol.md has the table). `mirror` empty = every mirror.
enum class Method {
  Hello,
  Status,
  Pause,
  Resume,
  Sync,
  Failures,
  Retry,
  Verify,
  Limit,      // value: bytes/s, 0 = none; with mirror: that mirror's own limit
  Transfers,  // value: 1..256 pins it, 0 = auto
  Plan,
  Refetch,  // mirror required: start a pass into a dest that lost the mirror's files on purpose
};

struct Request {
  std::int64_t id = 0;  // echoed in the response so a client can pipeline
  Method method = Method::Hello;
  std::string mirror;
  std::int64_t value = 0;          // Limit, Transfers
  int version = kProtocolVersion;  // Hello: the protocol version the client speaks
  // Failures: at most this many (1..kMaxFailuresPage; none: kDefaultFailuresPage), after
  // `cursor` (the previous answer's next_cursor; none: from the first).
  std::optional<std::int64_t> limit;
  std::optional<FailuresCursor> cursor;
  bool operator==(const Request&) const = default;
};

// Error codes a script can branch on.
enum class ErrorCode {
  None,
  BadRequest,     // not JSON, wrong shape, unknown field values
  UnknownMethod,  // names the method and lists the known ones
  TooLarge,       // request line over kMaxRequestBytes; the connection is closed
  NotPermitted,   // a changing method from a peer that is not root, the daemon's user or in
                  // control_group
  UnknownMirror,  // names it and lists the configured mirrors
  Failed,         // the daemon tried and could not (message says why)
  Unsupported,    // protocol version mismatch
};

struct Response {
  std::int64_t id = 0;
  ErrorCode error = ErrorCode::None;
  std::string message;  // human-readable: the error, or what a command did ("paused 2 mirrors")
  // Exactly one of these is set for a successful Hello/Status/Failures/Plan; none for commands.
  std::optional<int> hello_version;
  std::optional<DaemonStatus> status;
  std::optional<std::vector<FailedFile>> failures;
  std::optional<std::vector<Plan>> plans;
  // Failures: set when more failures follow this page; ask again with it as the cursor.
  std::optional<FailuresCursor> next_cursor;
  bool ok() const { return error == ErrorCode::None; }
  bool operator==(const Response&) const = default;
};

}  // namespace pnsync::protocol
