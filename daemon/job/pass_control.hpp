// SPDX-License-Identifier: MIT
// What the parts of a mirror pass share: how a pass ends (JobStatus), which try a request is, and
// the port through which a part asks its pass for requests, retries and stops.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "daemon/net/fetcher.hpp"
#include "store/store.hpp"

namespace pnsync {

enum class JobStatus {
  Running,
  Done,
  AuthFailed,
  AccessDenied,
  LocalStorage,
  NoSpace,  // the rest will not fit on dest's filesystem, or a write hit ENOSPC
  Stopped,
  Failed
};
std::string_view to_string(JobStatus status);

// How a local error ends a pass: a full disk (or quota) pauses it until space is freed, any other
// is a local-storage failure.
JobStatus storage_status(const Error& error);

// A connect or TLS handshake that timed out or was refused is the server out of connections
// (physionet.org lets connects beyond its limit hang), not the request failing: such tries do not
// count toward max_attempts, and the connection bound is lowered (concurrency_controller). They
// have a budget of their own so that a host that stays unreachable still ends the pass.
inline constexpr int kMaxNotConnected = 30;

// Which try a manifest or listing request is: `counted` toward max_attempts, after
// `not_connected` tries that never reached the server (they have a budget of their own).
struct RequestAttempt {
  int counted = 1;
  int not_connected = 0;
};

// What a part of a pass (ManifestStep) asks of the pass that owns it. MirrorJob implements it over
// the scheduler, HttpClient and its retry timers; tests/daemon/job/fake_pass.hpp answers requests
// from a script and records the rest, so that a part runs in milliseconds without sockets.
class PassControl {
public:
  virtual ~PassControl() = default;

  // Sends `request` once a listing slot is free. `done` runs later on the loop, as a guarded step,
  // unless the pass stops first (its requests are then cancelled).
  virtual void send_listing_request(GetRequest request,
                                    std::function<void(const HttpOutcome&)> done) = 0;
  virtual bool running() const = 0;
  // Ends the pass (logged unless `why` is Stopped); later calls change nothing.
  virtual void stop(JobStatus why, std::string message) = 0;
  // A 401 or 403 stops the pass with what the user must fix: true when it did. Both stop at once:
  // repeated failed logins can lock a PhysioNet account.
  virtual bool stop_if_refused(long status, const std::string& reason) = 0;
  // Runs `again` with the try after `failed`, once its back-off (or the server's Retry-After) is
  // over; false when no try is left.
  virtual bool retry(RequestAttempt failed, const HttpOutcome& outcome,
                     std::function<void(RequestAttempt)> again) = 0;
  // The server has answered: from here on the pass writes to dest, which becomes the mirror's (its
  // marker is written). False: that failed and the pass has stopped.
  virtual bool server_answered() = 0;
  // A file this part verified, recorded in the store with the pass's verified files.
  virtual void record_verified(const store::VerifiedFile& file) = 0;
  // Runs `step`, which uses the store, so that a store failure ends this pass as a local-storage
  // failure instead of escaping through the event loop.
  virtual void run_guarded(const std::function<void()>& step) = 0;
};

}  // namespace pnsync
