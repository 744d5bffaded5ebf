// SPDX-License-Identifier: MIT
// What Transfer's two ways of fetching a file (one stream, or byte ranges at once) share: how
// body bytes reach the .part file and how a failed response becomes an attempt's outcome.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/http_policy.hpp"
#include "daemon/transfer/transfer.hpp"

namespace pnsync {

// Writes all of `data` at the file offset (`at`), or at the current offset when nullopt; an error
// names `name`.
Result<void> write_all(int fd, std::string_view data, const std::string& name,
                       std::optional<std::int64_t> at = std::nullopt);

// A Last-Modified header as seconds since the epoch.
std::optional<std::int64_t> imf_time(const std::optional<std::string>& header);

// The outcome of an attempt whose response `classify` did not judge a success.
AttemptResult failed_attempt(Verdict verdict, const HttpOutcome& outcome,
                             std::chrono::seconds retry_after_max);

}  // namespace pnsync
