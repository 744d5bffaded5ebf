// SPDX-License-Identifier: MIT
#include "daemon/transfer/transfer_io.hpp"

#include <unistd.h>

#include <cerrno>

namespace pnsync {

Result<void> write_all(int fd, std::string_view data, const std::string& name,
                       std::optional<std::int64_t> at) {
  while (!data.empty()) {
    const ssize_t wrote =
        at ? ::pwrite(fd, data.data(), data.size(), *at) : ::write(fd, data.data(), data.size());
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return local_error("cannot write", name, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(wrote));
    if (at) *at += wrote;
  }
  return {};
}

std::optional<std::int64_t> imf_time(const std::optional<std::string>& header) {
  return header ? parse_imf_fixdate(*header) : std::nullopt;
}

AttemptResult failed_attempt(Verdict verdict, const HttpOutcome& outcome,
                             std::chrono::seconds retry_after_max) {
  std::string reason = describe_failure(outcome);
  switch (verdict) {
    case Verdict::Success:
      break;
    case Verdict::Retry: {
      AttemptResult result{AttemptOutcome::Retry, std::move(reason), {}, {}, 0};
      result.connected = outcome.connected();
      return result;
    }
    case Verdict::RetryAfter:
      return {AttemptOutcome::RetryAfter,
              reason + " (Retry-After: " + outcome.info.retry_after.value_or("?") + ")",
              requested_wait(outcome, retry_after_max),
              {},
              0};
    case Verdict::AuthFailed:
      return {AttemptOutcome::AuthFailed, std::move(reason), {}, {}, 0};
    case Verdict::AccessDenied:
      return {AttemptOutcome::AccessDenied, std::move(reason), {}, {}, 0};
    case Verdict::NotFound:
      return {AttemptOutcome::NotFound, std::move(reason), {}, {}, 0};
    case Verdict::Fatal:
      break;
  }
  return {AttemptOutcome::Fatal, std::move(reason), {}, {}, 0};
}

}  // namespace pnsync
