// SPDX-License-Identifier: MIT
// Drives a libcurl multi handle from a Boost.Asio io_context, event by event, following curl's
// multi-uv.c contract: socket waits re-armed after every event and dropped on CURL_POLL_REMOVE,
// one timer replaced on every timer callback, and no handler touching state that is gone.
#pragma once

#include <curl/curl.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "daemon/net/curl_handles.hpp"

namespace pnsync {

class CurlEngine {
public:
  // Called once per finished transfer, on the io_context, with the easy handle still alive so
  // the caller can read CURLINFO_*. The engine frees the handle afterwards.
  using Completion = std::function<void(CURL* easy, CURLcode result)>;

  explicit CurlEngine(boost::asio::io_context& io);
  ~CurlEngine();
  CurlEngine(const CurlEngine&) = delete;
  CurlEngine& operator=(const CurlEngine&) = delete;

  // Starts a configured transfer. Returns the raw handle as an identity for cancel().
  CURL* start(curl::Easy easy, Completion done);
  // Stops a transfer without calling its completion. Unknown handles are ignored. Its connection
  // is closed unless other transfers share it: the rest of the response is still on its way.
  void cancel(CURL* easy);
  // The transfer's connection is closed when it ends (unless other transfers still share it).
  void close_connection_after(CURL* easy);
  // Lets a transfer its write callback paused (CURL_WRITEFUNC_PAUSE) go on. curl hands over the
  // data it held back inside this call; should the callback refuse it, curl 7.88 tells only this
  // call, not the transfer, so the transfer is ended here with that error, through its
  // completion. Unknown handles are ignored.
  void resume(CURL* easy);
  std::size_t active() const;

  void set_max_host_connections(long limit);
  // Idle connections the pool keeps for reuse; the oldest beyond it are closed.
  void set_max_connects(long limit);
  // HTTP/2 streams on one connection; beyond it curl opens another (up to the host limit).
  void set_max_streams_per_connection(long limit);

private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared so that Asio handlers can hold a weak reference
};

}  // namespace pnsync
