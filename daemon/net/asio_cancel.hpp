// SPDX-License-Identifier: MIT
// Cancelling an Asio wait where nothing may throw: destructors and the close paths they run.
#pragma once

#include <boost/system/system_error.hpp>

namespace pnsync {

// Timer and signal-set cancel() throw boost::system::system_error on failure (Boost 1.74
// deprecates the error_code overloads). The reactor reports no failure when cancelling a timer,
// so this never catches in practice; it keeps a destructor from ending the process if it did.
// The waits still complete: at their expiry, or when their object is destroyed.
template <class Waitable>
void cancel_quietly(Waitable& waitable) noexcept {
  try {
    waitable.cancel();
  } catch (const boost::system::system_error&) {
    // Nothing to do: see above.
  }
}

}  // namespace pnsync
