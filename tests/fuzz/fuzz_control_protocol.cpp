// SPDX-License-Identifier: MIT
// The control protocol's decoders on arbitrary bytes, as pnsyncd reads them from any local user:
// no crash, no exception, no undefined behaviour. A decoded message is stable: encoding it gives
// one line that decodes to the same message. A refusal has a code a client can branch on and a
// message to show.
#include "protocol/codec.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace pnsync::protocol;

void check_refusal(const DecodeError& error) {
  FUZZ_CHECK(error.code == ErrorCode::BadRequest || error.code == ErrorCode::UnknownMethod);
  FUZZ_CHECK(!error.message.empty());
}

template <class Message, class Decode>
void check_stable(const Message& message, Decode decode) {
  const std::string line = encode(message);
  FUZZ_CHECK(!line.empty() && line.back() == '\n');
  FUZZ_CHECK(line.find('\n') == line.size() - 1);  // one line, whatever the strings held
  const auto again = decode(std::string_view(line).substr(0, line.size() - 1));
  FUZZ_CHECK(again.ok());
  // Strings with invalid UTF-8 cannot come out of the decoder (the parser refuses them), so
  // the second decode must give back exactly the first.
  FUZZ_CHECK(again.value() == message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  try {
    const Decoded<Request> request = decode_request(line);
    if (request)
      check_stable(request.value(), decode_request);
    else
      check_refusal(request.error());

    const Decoded<Response> response = decode_response(line);
    if (response)
      check_stable(response.value(), decode_response);
    else
      check_refusal(response.error());
  } catch (...) {
    // decode_* promise not to throw; encode must not throw on anything they produced.
    FUZZ_CHECK(!"an exception escaped the control protocol codec");
  }
  return 0;
}
