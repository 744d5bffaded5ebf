// SPDX-License-Identifier: MIT
// The wire form: every message survives a round trip, and hostile or broken lines come back as
// a DecodeError with the right code and a message naming the field, never a throw or a crash.
#include "protocol/codec.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "protocol/methods.hpp"
#include "tests/protocol/samples.hpp"

using namespace pnsync::protocol;

TEST_CASE("every method's request survives a round trip", "[codec]") {
  for (const MethodInfo& method : methods()) {
    Request request;
    request.id = 9'007'199'254'740'993;  // above 2^53: must not pass through a double
    request.method = method.method;
    request.mirror = method.method == Method::Hello ? "" : "mimic-cxr/2.0.0";
    request.value = method.takes_value ? 42 : 0;
    const std::string line = encode(request);
    INFO(line);
    REQUIRE(line.back() == '\n');
    REQUIRE(line.find('\n') == line.size() - 1);
    const Decoded<Request> decoded = decode_request(line.substr(0, line.size() - 1));
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == request);
  }
}

TEST_CASE("the hello request is the documented line", "[codec]") {
  Request hello;
  hello.id = 1;
  CHECK(encode(hello) == "{\"id\":1,\"method\":\"hello\",\"version\":1}\n");
}

TEST_CASE("responses survive a round trip", "[codec]") {
  Response status;
  status.id = 7;
  status.status = pnsync::test::sample_status();
  Response failures;
  failures.id = 8;
  failures.failures = pnsync::test::sample_failures();
  Response plans;
  plans.plans = std::vector<Plan>{pnsync::test::sample_plan()};
  Response hello;
  hello.hello_version = 1;
  hello.message = "pnsyncd control protocol 1";
  Response error;
  error.id = 3;
  error.error = ErrorCode::NotPermitted;
  error.message = "pause changes what pnsyncd does";
  for (const Response& response : {status, failures, plans, hello, error}) {
    const std::string line = encode(response);
    INFO(line);
    REQUIRE(line.find('\n') == line.size() - 1);
    const Decoded<Response> decoded = decode_response(line);
    REQUIRE(decoded.ok());
    CHECK(decoded.value() == response);
  }
}

TEST_CASE("the status carries the connections object, in the documented order", "[codec]") {
  Response response;
  response.status = pnsync::test::sample_status();
  const std::string json = result_json(response, -1);  // what `pnsyncctl --json status` prints
  CHECK_THAT(json, Catch::Contains(R"("transfers_reason":"cut to 6 after 3x 429",)"
                                   R"("connections":{"open":2,"limit":3,"max":8,"adaptive":true,)"
                                   R"("streams_per_connection":4,"requests_in_flight":5,)"
                                   R"("rate_per_connection_bytes_per_s":6553600.0,)"
                                   R"("reason":"3 connections: +9% at 3"},"bandwidth_limit":)"));
}

TEST_CASE("a status from a daemon older than \"connections\" still decodes", "[codec]") {
  // pnsyncd 0.1.0's answer, word for word but for the mirrors.
  const Decoded<Response> decoded = decode_response(
      R"({"id":2,"ok":true,"message":"","status":{"version":"0.1.0","pid":4242,)"
      R"("started_unix":1700000000,"paused":false,"transfers":6,"transfers_auto":true,)"
      R"("max_transfers":16,"transfers_reason":"cut to 6 after 3x 429",)"
      R"("bandwidth_limit":0,"rate_bytes_per_s":1.5,"mirrors":[]}})");
  REQUIRE(decoded.ok());
  REQUIRE(decoded.value().status);
  const DaemonStatus& status = *decoded.value().status;
  CHECK(status.transfers == 6);
  CHECK(status.transfers_reason == "cut to 6 after 3x 429");
  CHECK(status.connections == ConnectionStatus{});
}

TEST_CASE("a newer daemon's larger connection counts and extra fields still decode", "[codec]") {
  const Decoded<Response> decoded = decode_response(
      R"({"id":2,"ok":true,"status":{"connections":{"open":300,"limit":300,"max":1000,)"
      R"("adaptive":false,"streams_per_connection":5000,"requests_in_flight":100000,)"
      R"("rate_per_connection_bytes_per_s":10,"reason":"","future":[1]}}})");
  REQUIRE(decoded.ok());
  const ConnectionStatus& connections = decoded.value().status->connections;
  CHECK(connections.open == 300);
  CHECK(connections.max == 1000);
  CHECK(connections.streams_per_connection == 5000);
  CHECK(connections.requests_in_flight == 100000);
  CHECK(connections.rate_per_connection_bytes_per_s == 10.0);
}

TEST_CASE("non-UTF-8 names and non-finite rates still encode", "[codec]") {
  Response response;
  response.status.emplace();
  response.status->rate_bytes_per_s = std::numeric_limits<double>::infinity();
  response.status->connections.rate_per_connection_bytes_per_s =
      std::numeric_limits<double>::quiet_NaN();
  response.status->mirrors.push_back({});
  response.status->mirrors[0].name = "bad\xff name";
  const Decoded<Response> decoded = decode_response(encode(response));
  REQUIRE(decoded.ok());
  CHECK(decoded.value().status->rate_bytes_per_s == 0.0);
  CHECK(decoded.value().status->connections.rate_per_connection_bytes_per_s == 0.0);
  CHECK(decoded.value().status->mirrors[0].name == "bad\xEF\xBF\xBD name");  // U+FFFD
}

TEST_CASE("malformed requests are refused with a code and the field at fault", "[codec]") {
  const std::string huge(100'000, '[');
  // Balanced and deep: parsing and destroying it must not recurse once per level.
  const std::string deep = std::string(30'000, '[') + std::string(30'000, ']');
  auto [line, code, id,
        message] = GENERATE_REF(table<std::string, ErrorCode, std::int64_t, std::string>({
      {"", ErrorCode::BadRequest, 0, "cannot parse"},
      {"status", ErrorCode::BadRequest, 0, "cannot parse"},
      {"{\"id\":1,\"method\":\"status\"", ErrorCode::BadRequest, 0, "cannot parse"},
      {"[1,2,3]", ErrorCode::BadRequest, 0, "expected a JSON object"},
      {"\"status\"", ErrorCode::BadRequest, 0, "expected a JSON object"},
      {"{\"id\":1}", ErrorCode::BadRequest, 1, "missing field \"method\""},
      {"{\"id\":2,\"method\":7}", ErrorCode::BadRequest, 2, "\"method\" must be a string"},
      {"{\"id\":\"3\",\"method\":\"status\"}", ErrorCode::BadRequest, 0,
       "\"id\" must be an integer"},
      {"{\"id\":1.5,\"method\":\"status\"}", ErrorCode::BadRequest, 0, "\"id\" must be an integer"},
      {"{\"id\":18446744073709551615,\"method\":\"status\"}", ErrorCode::BadRequest, 0,
       "\"id\" is out of range"},
      {"{\"id\":1e400,\"method\":\"status\"}", ErrorCode::BadRequest, 0, ""},
      {"{\"id\":4,\"method\":\"frobnicate\"}", ErrorCode::UnknownMethod, 4,
       "unknown method \"frobnicate\"; known methods: hello, status, pause, resume, sync, "
       "failures, retry, verify, limit, transfers, plan"},
      {"{\"id\":5,\"method\":\"status\",\"mirror\":[\"a\"]}", ErrorCode::BadRequest, 5,
       "status: \"mirror\" must be a string"},
      {"{\"id\":6,\"method\":\"limit\"}", ErrorCode::BadRequest, 6,
       "limit: missing field \"value\""},
      {"{\"id\":6,\"method\":\"limit\",\"value\":-1}", ErrorCode::BadRequest, 6,
       "\"value\" is out of range"},
      {"{\"id\":6,\"method\":\"limit\",\"value\":99999999999999999999}", ErrorCode::BadRequest, 6,
       "\"value\""},
      {"{\"id\":7,\"method\":\"transfers\",\"value\":257}", ErrorCode::BadRequest, 7,
       "\"value\" is out of range (0..256)"},
      {"{\"id\":7,\"method\":\"transfers\",\"value\":true}", ErrorCode::BadRequest, 7,
       "\"value\" must be an integer"},
      {"{\"id\":8,\"method\":\"hello\"}", ErrorCode::BadRequest, 8, "missing field \"version\""},
      {"{\"id\":8,\"method\":\"hello\",\"version\":0}", ErrorCode::BadRequest, 8, "\"version\""},
      {"{\"id\":9,\"method\":\"plan\"}", ErrorCode::BadRequest, 9, "plan needs \"mirror\""},
      {"{\"id\":9,\"method\":\"refetch\"}", ErrorCode::BadRequest, 9, "refetch needs \"mirror\""},
      {"{\"id\":10,\"method\":{\"a\":{\"b\":[[[[{}]]]]}}}", ErrorCode::BadRequest, 10,
       "\"method\" must be a string"},
      {"{\"id\":1,\"method\":\"status\"}garbage", ErrorCode::BadRequest, 0, "cannot parse"},
      {"{\"id\":1,\"method\":\"st\xff\"}", ErrorCode::BadRequest, 0, "cannot parse"},
      {huge, ErrorCode::BadRequest, 0, "cannot parse"},
      {deep, ErrorCode::BadRequest, 0, "expected a JSON object"},
  }));
  INFO(line.substr(0, 80));
  const Decoded<Request> decoded = decode_request(line);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().code == code);
  CHECK(decoded.error().id == id);
  CHECK_THAT(decoded.error().message, Catch::Contains(message));
}

TEST_CASE("unknown request fields are ignored and a trailing CR is tolerated", "[codec]") {
  const Decoded<Request> decoded =
      decode_request("{\"id\":3,\"method\":\"pause\",\"mirror\":\"m/1\",\"future\":{\"x\":1}}\r");
  REQUIRE(decoded.ok());
  CHECK(decoded.value().method == Method::Pause);
  CHECK(decoded.value().mirror == "m/1");
}

TEST_CASE("malformed responses are refused naming the nested field", "[codec]") {
  auto [line, message] = GENERATE(table<std::string, std::string>({
      {"{\"id\":1}", "missing field \"ok\""},
      {"{\"id\":1,\"ok\":false}", "missing field \"error\""},
      {"{\"id\":1,\"ok\":true,\"status\":[]}", "\"status\" must be an object"},
      {"{\"id\":1,\"ok\":true,\"status\":{\"mirrors\":[{\"name\":\"a\",\"files_total\":\"x\"}]}}",
       "\"status.mirrors[0].files_total\" must be an integer"},
      {"{\"id\":1,\"ok\":true,\"status\":{\"mirrors\":[{}]}}",
       "missing field \"status.mirrors[0].name\""},
      {"{\"id\":1,\"ok\":true,\"status\":{\"transfers\":100000}}",
       "\"status.transfers\" is out of range"},
      {"{\"id\":1,\"ok\":true,\"status\":{\"connections\":[]}}",
       "\"status.connections\" must be an object"},
      {"{\"id\":1,\"ok\":true,\"status\":{\"connections\":{\"open\":-1}}}",
       "\"status.connections.open\" is out of range"},
      {"{\"id\":1,\"ok\":true,\"status\":{\"connections\":{\"adaptive\":1}}}",
       "\"status.connections.adaptive\" must be true or false"},
      {"{\"id\":1,\"ok\":true,\"status\":{\"connections\":{\"reason\":null}}}",
       "\"status.connections.reason\" must be a string"},
      {"{\"id\":1,\"ok\":true,\"failures\":{}}", "\"failures\" must be an array"},
      {"{\"id\":1,\"ok\":true,\"plans\":[{\"sample\":[1]}]}",
       "\"plans[0].sample\" must be an array of strings"},
  }));
  INFO(line);
  const Decoded<Response> decoded = decode_response(line);
  REQUIRE_FALSE(decoded.ok());
  CHECK_THAT(decoded.error().message, Catch::Contains(message));
}

TEST_CASE("an error code from a newer daemon is kept as Failed with its name", "[codec]") {
  const Decoded<Response> decoded =
      decode_response(R"({"id":1,"ok":false,"error":"quota","message":"over quota"})");
  REQUIRE(decoded.ok());
  CHECK(decoded.value().error == ErrorCode::Failed);
  CHECK(decoded.value().message == "quota: over quota");
}

TEST_CASE("every prefix of a valid line decodes or fails cleanly", "[codec]") {
  Response response;
  response.status = pnsync::test::sample_status();
  const std::string line = encode(response);
  for (std::size_t length = 0; length + 1 < line.size(); ++length) {
    CHECK_FALSE(decode_response(std::string_view(line).substr(0, length)).ok());
    CHECK_FALSE(decode_request(std::string_view(line).substr(0, length)).ok());
  }
}

TEST_CASE("the method table covers every method with a unique name", "[codec]") {
  CHECK(methods().size() == static_cast<std::size_t>(Method::Refetch) + 1);
  for (const MethodInfo& method : methods()) {
    CHECK(info(method.method).name == method.name);
    CHECK(method_from_string(method.name) == method.method);
  }
  CHECK_FALSE(method_from_string("Status"));
  CHECK(info(Method::Status).changes == false);
  CHECK(info(Method::Pause).changes == true);
  for (auto code : {ErrorCode::BadRequest, ErrorCode::UnknownMethod, ErrorCode::TooLarge,
                    ErrorCode::NotPermitted, ErrorCode::UnknownMirror, ErrorCode::Failed,
                    ErrorCode::Unsupported})
    CHECK(error_code_from_string(to_string(code)) == code);
}

TEST_CASE("a failures request carries its limit and cursor, a page its next cursor", "[codec]") {
  Request request;
  request.id = 4;
  request.method = Method::Failures;
  request.limit = 250;
  // Any bytes: a file name need not be UTF-8, and the cursor must bring back exactly this path.
  request.cursor = FailuresCursor{"mimic-cxr/2.0.0", "files/p10/caf\xe9\xff.dcm"};
  const std::string line = encode(request);
  INFO(line);
  const Decoded<Request> decoded = decode_request(line.substr(0, line.size() - 1));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == request);

  Response page;
  page.id = 4;
  page.failures = pnsync::test::sample_failures();
  page.next_cursor = FailuresCursor{"mimic-cxr/2.0.0", "files/p11/b.dcm"};
  const std::string answer = encode(page);
  CHECK_THAT(answer, Catch::Contains(R"("more":true,"next_cursor":")"));
  const Decoded<Response> read = decode_response(answer);
  REQUIRE(read.ok());
  CHECK(read.value() == page);

  page.next_cursor.reset();
  CHECK_THAT(encode(page), Catch::Contains(R"("more":false)"));
  CHECK(decode_response(encode(page)).value() == page);
}

TEST_CASE("failures requests of older clients, and answers of older daemons, still read",
          "[codec]") {
  const Decoded<Request> old_request = decode_request(R"({"id":1,"method":"failures"})");
  REQUIRE(old_request.ok());
  CHECK_FALSE(old_request.value().limit);
  CHECK_FALSE(old_request.value().cursor);
  CHECK_FALSE(decode_request(R"({"id":1,"method":"failures","cursor":""})").value().cursor);

  const Decoded<Response> old_answer = decode_response(
      R"({"id":1,"ok":true,"message":"","failures":[{"mirror":"m/1","path":"a","attempts":2}]})");
  REQUIRE(old_answer.ok());
  CHECK(old_answer.value().failures->size() == 1);
  CHECK_FALSE(old_answer.value().next_cursor);
}

TEST_CASE("a bad failures limit or cursor is refused naming it", "[codec]") {
  auto [line, message] = GENERATE(table<std::string, std::string>({
      {R"({"id":1,"method":"failures","limit":0})", "\"limit\" is out of range (1..10000)"},
      {R"({"id":1,"method":"failures","limit":10001})", "\"limit\" is out of range"},
      {R"({"id":1,"method":"failures","limit":"5"})", "\"limit\" must be an integer"},
      {R"({"id":1,"method":"failures","cursor":7})", "\"cursor\" must be a string"},
      {R"({"id":1,"method":"failures","cursor":"zz"})", "\"cursor\" is not one this daemon gave"},
      {R"({"id":1,"method":"failures","cursor":"616263"})", "\"cursor\" is not one"},  // no NUL
      {R"({"id":1,"method":"failures","cursor":"6"})", "\"cursor\" is not one"},
  }));
  INFO(line);
  const Decoded<Request> decoded = decode_request(line);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().code == ErrorCode::BadRequest);
  CHECK(decoded.error().id == 1);
  CHECK_THAT(decoded.error().message, Catch::Contains(message));

  const Decoded<Response> answer =
      decode_response(R"({"id":1,"ok":true,"failures":[],"more":true})");
  REQUIRE_FALSE(answer.ok());
  CHECK_THAT(answer.error().message, Catch::Contains("missing field \"next_cursor\""));
}
