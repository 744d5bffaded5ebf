// SPDX-License-Identifier: MIT
// Messages with every field set to something other than its default, shared by the codec,
// server and rendering tests.
#pragma once

#include "protocol/messages.hpp"

namespace pnsync::test {

inline protocol::DaemonStatus sample_status() {
  using namespace pnsync::protocol;
  DaemonStatus status;
  status.version = "0.1.0";
  status.pid = 4242;
  status.started_unix = 1'700'000'000;
  status.transfers = 6;
  status.transfers_auto = true;
  status.max_transfers = 16;
  status.transfers_reason = "cut to 6 after 3x 429";
  status.connections.open = 2;
  status.connections.limit = 3;
  status.connections.max = 8;
  status.connections.adaptive = true;
  status.connections.streams_per_connection = 4;
  status.connections.requests_in_flight = 5;
  status.connections.rate_per_connection_bytes_per_s = 6.25 * 1024 * 1024;
  status.connections.reason = "3 connections: +9% at 3";
  status.bandwidth_limit = 50 * 1024 * 1024;
  status.held_until_unix = 1'700'003'720;  // a Retry-After of 2 min, an hour after the start
  status.rate_bytes_per_s = 12.5 * 1024 * 1024;

  MirrorStatus cxr;
  cxr.name = "mimic-cxr/2.0.0";
  cxr.dest = "/data/physionet/mimic-cxr/2.0.0";
  cxr.state = "syncing";
  cxr.files_total = 377'110;
  cxr.files_verified = 1'200;
  cxr.files_failed = 3;
  cxr.files_unknown_size = 12;
  cxr.bytes_total = 4'700'000'000'000;
  cxr.bytes_verified = 1'610'612'736;
  cxr.bytes_total_estimated = true;
  cxr.dirs_pending = 40;
  cxr.rate_bytes_per_s = 12.5 * 1024 * 1024;
  cxr.eta_s = 11'520;
  cxr.last_sync_unix = 1'699'990'000;
  cxr.transfers = {
      {"files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm", 1'258'291,
       3'145'728, 1.1 * 1024 * 1024},
      {"files/p10/p10000032/s53189527/2a2277a9.dcm", 0, std::nullopt, 0},
      {"mimic-cxr-2.0.0-metadata.csv.gz", 41'943'040, 134'217'728, 5.2 * 1024 * 1024, 4}};

  MirrorStatus iv;
  iv.name = "mimic-iv/2.2";
  iv.dest = "/data/physionet/mimic-iv/2.2";
  iv.state = "failed";
  iv.reason = "403 Forbidden: the data use agreement for mimic-iv/2.2 is not signed";
  iv.warning = "/data/physionet/mimic-iv/2.2 is mode 0755: others may read the mirror";
  iv.files_total = 3'000;
  iv.files_verified = 3'000;
  iv.bytes_total = 10 * 1024LL * 1024 * 1024;
  iv.bytes_verified = 10 * 1024LL * 1024 * 1024;
  iv.last_sync_unix = 1'699'990'000;
  iv.next_sync_unix = 1'700'080'000;
  iv.bandwidth_limit = 10 * 1024 * 1024;
  iv.modes_closed = 3'004;  // an earlier wget mirror adopted: its files and their directories
  iv.modes_closed_world_readable = 3'004;

  status.mirrors = {cxr, iv};
  return status;
}

inline std::vector<protocol::FailedFile> sample_failures() {
  return {{"mimic-cxr/2.0.0", "files/p10/p10000032/s50414267/a.dcm",
           "HTTP 503 Service Unavailable after 8 attempts", 8},
          {"mimic-cxr/2.0.0", "files/p11/b.dcm", "SHA-256 mismatch", 3}};
}

inline protocol::Plan sample_plan() {
  protocol::Plan plan;
  plan.mirror = "mimic-cxr/2.0.0";
  plan.files_selected = 377'110;
  plan.bytes_selected = 4'700'000'000'000;
  plan.files_unknown_size = 12;
  plan.files_verified = 1'200;
  plan.files_to_fetch = 375'910;
  plan.bytes_to_fetch = 4'690'000'000'000;
  plan.files_kept_unselected = 3;
  plan.listing_complete = false;
  plan.sample = {"files/p10/p10000032/s50414267/a.dcm", "files/p11/b.dcm"};
  return plan;
}

}  // namespace pnsync::test
