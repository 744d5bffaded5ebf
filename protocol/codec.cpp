// SPDX-License-Identifier: MIT
// nlohmann/json stays in this file: the rest of pnsync sees messages.hpp's structs only.
#include "protocol/codec.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "protocol/methods.hpp"

namespace pnsync::protocol {
namespace {

using Json = nlohmann::json;
// Encoding keeps the fields in the order of the structs, which reads better than sorted keys
// in `pnsyncctl --json` and in the protocol document's examples.
using OrderedJson = nlohmann::ordered_json;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr int kMaxTransfers = 256;  // as config's `transfers`

// ---- encoding ----

// nlohmann writes NaN and infinity as null, which the decoder (rightly) refuses.
double finite(double value) {
  return std::isfinite(value) ? value : 0.0;
}

template <class T>
OrderedJson optional_json(const std::optional<T>& value) {
  return value ? OrderedJson(*value) : OrderedJson(nullptr);
}

OrderedJson to_json(const TransferStatus& transfer) {
  return {{"path", transfer.path},
          {"bytes_done", transfer.bytes_on_disk},
          {"size", optional_json(transfer.size)},
          {"rate_bytes_per_s", finite(transfer.rate_bytes_per_s)},
          {"ranges", transfer.ranges},
          {"checking", transfer.checking}};
}

OrderedJson to_json(const MirrorStatus& mirror) {
  OrderedJson transfers = OrderedJson::array();
  for (const TransferStatus& transfer : mirror.transfers) transfers.push_back(to_json(transfer));
  return {{"name", mirror.name},
          {"dest", mirror.dest},
          {"state", mirror.state},
          {"reason", mirror.reason},
          {"warning", mirror.warning},
          {"files_total", mirror.files_total},
          {"files_verified", mirror.files_verified},
          {"files_failed", mirror.files_failed},
          {"files_unknown_size", mirror.files_unknown_size},
          {"bytes_total", mirror.bytes_total},
          {"bytes_done", mirror.bytes_verified},
          {"bytes_total_estimated", mirror.bytes_total_estimated},
          {"dirs_pending", mirror.dirs_pending},
          {"rate_bytes_per_s", finite(mirror.rate_bytes_per_s)},
          {"eta_s", optional_json(mirror.eta_s)},
          {"last_sync_unix", optional_json(mirror.last_sync_unix)},
          {"next_sync_unix", optional_json(mirror.next_sync_unix)},
          {"bandwidth_limit", mirror.bandwidth_limit},
          {"modes_closed", mirror.modes_closed},
          {"modes_closed_world_readable", mirror.modes_closed_world_readable},
          {"transfers", std::move(transfers)}};
}

OrderedJson to_json(const ConnectionStatus& connections) {
  return {{"open", connections.open},
          {"limit", connections.limit},
          {"max", connections.max},
          {"adaptive", connections.adaptive},
          {"streams_per_connection", connections.streams_per_connection},
          {"requests_in_flight", connections.requests_in_flight},
          {"rate_per_connection_bytes_per_s", finite(connections.rate_per_connection_bytes_per_s)},
          {"reason", connections.reason}};
}

OrderedJson to_json(const DaemonStatus& status) {
  OrderedJson mirrors = OrderedJson::array();
  for (const MirrorStatus& mirror : status.mirrors) mirrors.push_back(to_json(mirror));
  return {{"version", status.version},
          {"pid", status.pid},
          {"started_unix", status.started_unix},
          {"paused", status.paused},
          {"held_until_unix", optional_json(status.held_until_unix)},
          {"transfers", status.transfers},
          {"transfers_auto", status.transfers_auto},
          {"max_transfers", status.max_transfers},
          {"transfers_reason", status.transfers_reason},
          {"connections", to_json(status.connections)},
          {"bandwidth_limit", status.bandwidth_limit},
          {"rate_bytes_per_s", finite(status.rate_bytes_per_s)},
          {"mirrors", std::move(mirrors)}};
}

OrderedJson to_json(const FailedFile& failed) {
  return {{"mirror", failed.mirror},
          {"path", failed.path},
          {"last_error", failed.last_error},
          {"attempts", failed.attempts}};
}

OrderedJson to_json(const Plan& plan) {
  return {{"mirror", plan.mirror},
          {"files_selected", plan.files_selected},
          {"bytes_selected", plan.bytes_selected},
          {"files_unknown_size", plan.files_unknown_size},
          {"files_verified", plan.files_verified},
          {"files_to_fetch", plan.files_to_fetch},
          {"bytes_to_fetch", plan.bytes_to_fetch},
          {"files_kept_unselected", plan.files_kept_unselected},
          {"listing_complete", plan.listing_complete},
          {"sample", plan.sample}};
}

template <class T>
OrderedJson array_json(const std::vector<T>& items) {
  OrderedJson array = OrderedJson::array();
  for (const T& item : items) array.push_back(to_json(item));
  return array;
}

std::string dump_line(const OrderedJson& json, int indent = -1) {
  // `replace`: a non-UTF-8 file name must not turn a status answer into an exception.
  return json.dump(indent, ' ', false, OrderedJson::error_handler_t::replace);
}

// The cursor's wire form: mirror, NUL, path, in hex. Opaque, and safe for a path in any bytes
// (a JSON string would have to replace invalid UTF-8, and the next page would start elsewhere).
std::string cursor_text(const FailuresCursor& cursor) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string plain = cursor.mirror;
  plain.push_back('\0');
  plain += cursor.path;
  std::string text;
  text.reserve(plain.size() * 2);
  for (const char c : plain) {
    const auto byte = static_cast<unsigned char>(c);
    text.push_back(kDigits[byte >> 4]);
    text.push_back(kDigits[byte & 0xf]);
  }
  return text;
}

std::optional<FailuresCursor> cursor_from_text(std::string_view text) {
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() % 2 != 0) return std::nullopt;
  std::string plain;
  plain.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    plain.push_back(static_cast<char>(high << 4 | low));
  }
  const std::size_t nul = plain.find('\0');
  if (nul == std::string::npos || nul == 0 || plain.find('\0', nul + 1) != std::string::npos)
    return std::nullopt;
  return FailuresCursor{plain.substr(0, nul), plain.substr(nul + 1)};
}

// ---- decoding ----

// Reads the fields of one JSON object. The first problem is kept (with the field's path, e.g.
// "status.mirrors[1].files_total") and later reads return defaults, so a decoder reads every
// field straight through and checks failed() once at the end.
class Reader {
public:
  Reader(const Json& object, std::string path, std::string& error)
      : object_(object), path_(std::move(path)), error_(error) {
    if (!object_.is_object())
      fail(path_.empty() ? "expected a JSON object" : "\"" + path_ + "\" must be an object");
  }
  bool failed() const { return !error_.empty(); }
  bool has(std::string_view key) const {
    return object_.is_object() && object_.find(key) != object_.end();
  }

  std::int64_t integer(std::string_view key, std::int64_t fallback, bool required = false,
                       std::int64_t min = kInt64Min, std::int64_t max = kInt64Max) {
    const Json* field = find(key, required);
    if (field == nullptr) return fallback;
    std::int64_t value = 0;
    if (field->is_number_unsigned()) {
      const auto unsigned_value = field->get<std::uint64_t>();
      if (unsigned_value > static_cast<std::uint64_t>(kInt64Max)) return range(key, min, max);
      value = static_cast<std::int64_t>(unsigned_value);
    } else if (field->is_number_integer()) {
      value = field->get<std::int64_t>();
    } else {
      return type(key, "an integer"), fallback;
    }
    if (value < min || value > max) return range(key, min, max);
    return value;
  }

  std::optional<std::int64_t> optional_integer(std::string_view key) {
    const Json* field = find(key, false);
    if (field == nullptr || field->is_null()) return std::nullopt;
    return integer(key, 0);
  }

  int small_integer(std::string_view key, int min, int max) {
    return static_cast<int>(integer(key, 0, false, min, max));
  }

  double number(std::string_view key) {
    const Json* field = find(key, false);
    if (field == nullptr) return 0.0;
    if (!field->is_number()) return type(key, "a number"), 0.0;
    const double value = field->get<double>();
    if (!std::isfinite(value)) return type(key, "a finite number"), 0.0;
    return value;
  }

  std::string string(std::string_view key, bool required = false) {
    const Json* field = find(key, required);
    if (field == nullptr) return {};
    if (!field->is_string()) return type(key, "a string"), std::string();
    return field->get<std::string>();
  }

  bool boolean(std::string_view key, bool required = false) {
    const Json* field = find(key, required);
    if (field == nullptr) return false;
    if (!field->is_boolean()) return type(key, "true or false"), false;
    return field->get<bool>();
  }

  std::vector<std::string> strings(std::string_view key) {
    std::vector<std::string> values;
    const Json* field = find(key, false);
    if (field == nullptr) return values;
    if (!field->is_array()) return type(key, "an array of strings"), values;
    for (const Json& item : *field) {
      if (!item.is_string()) return type(key, "an array of strings"), values;
      values.push_back(item.get<std::string>());
    }
    return values;
  }

  // Calls read(Reader&) for each object of the array `key`.
  template <class Read>
  void objects(std::string_view key, Read read) {
    const Json* field = find(key, false);
    if (field == nullptr) return;
    if (!field->is_array()) return type(key, "an array");
    std::size_t index = 0;
    for (const Json& item : *field) {
      if (failed()) return;
      Reader element(item, name(key) + "[" + std::to_string(index++) + "]", error_);
      read(element);
    }
  }

  Reader object(std::string_view key) {
    const Json* field = find(key, false);
    return Reader(field != nullptr ? *field : kEmptyObject, name(key), error_);
  }

  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }

private:
  inline static const Json kEmptyObject = Json::object();

  std::string name(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const Json* find(std::string_view key, bool required) {
    if (failed() || !object_.is_object()) return nullptr;
    const auto it = object_.find(key);
    if (it == object_.end()) {
      if (required) fail("missing field \"" + name(key) + "\"");
      return nullptr;
    }
    return &*it;
  }
  void type(std::string_view key, std::string_view expected) {
    fail("\"" + name(key) + "\" must be " + std::string(expected));
  }
  std::int64_t range(std::string_view key, std::int64_t min, std::int64_t max) {
    std::string message = "\"" + name(key) + "\" is out of range";
    if (min != kInt64Min || max != kInt64Max)
      message += " (" + std::to_string(min) + ".." + std::to_string(max) + ")";
    fail(std::move(message));
    return 0;
  }

  const Json& object_;
  std::string path_;
  std::string& error_;
};

std::optional<Json> parse(std::string_view line, std::string& error) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // No exceptions: invalid JSON (invalid UTF-8 included) comes back as a discarded value.
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    error = "not a JSON object: cannot parse the line as JSON";
    return std::nullopt;
  }
  return json;
}

TransferStatus read_transfer(Reader& in) {
  TransferStatus transfer;
  transfer.path = in.string("path");
  transfer.bytes_on_disk = in.integer("bytes_done", 0);
  transfer.size = in.optional_integer("size");
  transfer.rate_bytes_per_s = in.number("rate_bytes_per_s");
  // Absent from a daemon older than the field: one stream.
  transfer.ranges = static_cast<int>(std::clamp<std::int64_t>(in.integer("ranges", 1), 1, 1024));
  transfer.checking = in.boolean("checking");  // absent from older daemons: false
  return transfer;
}

MirrorStatus read_mirror(Reader& in) {
  MirrorStatus mirror;
  mirror.name = in.string("name", true);
  mirror.dest = in.string("dest");
  mirror.state = in.string("state");
  mirror.reason = in.string("reason");
  mirror.warning = in.string("warning");
  mirror.files_total = in.integer("files_total", 0);
  mirror.files_verified = in.integer("files_verified", 0);
  mirror.files_failed = in.integer("files_failed", 0);
  mirror.files_unknown_size = in.integer("files_unknown_size", 0);
  mirror.bytes_total = in.integer("bytes_total", 0);
  mirror.bytes_verified = in.integer("bytes_done", 0);
  mirror.bytes_total_estimated = in.boolean("bytes_total_estimated");
  mirror.dirs_pending = in.integer("dirs_pending", 0);
  mirror.modes_closed = in.integer("modes_closed", 0);
  mirror.modes_closed_world_readable = in.integer("modes_closed_world_readable", 0);
  mirror.rate_bytes_per_s = in.number("rate_bytes_per_s");
  mirror.eta_s = in.optional_integer("eta_s");
  mirror.last_sync_unix = in.optional_integer("last_sync_unix");
  mirror.next_sync_unix = in.optional_integer("next_sync_unix");
  mirror.bandwidth_limit = in.integer("bandwidth_limit", 0);
  in.objects("transfers", [&](Reader& item) { mirror.transfers.push_back(read_transfer(item)); });
  return mirror;
}

// Counts are only refused when negative: a newer daemon may allow more connections or streams than
// this build's configuration does, and its status must still read.
ConnectionStatus read_connections(Reader& in) {
  constexpr int kMax = std::numeric_limits<int>::max();
  ConnectionStatus connections;
  connections.open = in.small_integer("open", 0, kMax);
  connections.limit = in.small_integer("limit", 0, kMax);
  connections.max = in.small_integer("max", 0, kMax);
  connections.adaptive = in.boolean("adaptive");
  connections.streams_per_connection = in.small_integer("streams_per_connection", 0, kMax);
  connections.requests_in_flight = in.small_integer("requests_in_flight", 0, kMax);
  connections.rate_per_connection_bytes_per_s = in.number("rate_per_connection_bytes_per_s");
  connections.reason = in.string("reason");
  return connections;
}

DaemonStatus read_status(Reader& in) {
  DaemonStatus status;
  status.version = in.string("version");
  status.pid = in.integer("pid", 0);
  status.started_unix = in.integer("started_unix", 0);
  status.paused = in.boolean("paused");
  status.held_until_unix = in.optional_integer("held_until_unix");
  status.transfers = in.small_integer("transfers", 0, kMaxTransfers);
  status.transfers_auto = in.boolean("transfers_auto");
  status.max_transfers = in.small_integer("max_transfers", 0, kMaxTransfers);
  status.transfers_reason = in.string("transfers_reason");
  // Absent from a daemon older than the field: all zero, which pnsyncctl does not show.
  Reader connections = in.object("connections");
  status.connections = read_connections(connections);
  status.bandwidth_limit = in.integer("bandwidth_limit", 0);
  status.rate_bytes_per_s = in.number("rate_bytes_per_s");
  in.objects("mirrors", [&](Reader& item) { status.mirrors.push_back(read_mirror(item)); });
  return status;
}

FailedFile read_failed(Reader& in) {
  FailedFile failed;
  failed.mirror = in.string("mirror");
  failed.path = in.string("path");
  failed.last_error = in.string("last_error");
  failed.attempts = in.small_integer("attempts", 0, std::numeric_limits<int>::max());
  return failed;
}

Plan read_plan(Reader& in) {
  Plan plan;
  plan.mirror = in.string("mirror");
  plan.files_selected = in.integer("files_selected", 0);
  plan.bytes_selected = in.integer("bytes_selected", 0);
  plan.files_unknown_size = in.integer("files_unknown_size", 0);
  plan.files_verified = in.integer("files_verified", 0);
  plan.files_to_fetch = in.integer("files_to_fetch", 0);
  plan.bytes_to_fetch = in.integer("bytes_to_fetch", 0);
  plan.files_kept_unselected = in.integer("files_kept_unselected", 0);
  plan.listing_complete = in.boolean("listing_complete");
  plan.sample = in.strings("sample");
  return plan;
}

}  // namespace

std::string encode(const Request& request) {
  const MethodInfo& method = info(request.method);
  OrderedJson json = {{"id", request.id}, {"method", method.name}};
  if (request.method == Method::Hello) json["version"] = request.version;
  if (!request.mirror.empty()) json["mirror"] = request.mirror;
  if (method.takes_value) json["value"] = request.value;
  if (request.method == Method::Failures) {
    if (request.limit) json["limit"] = *request.limit;
    if (request.cursor) json["cursor"] = cursor_text(*request.cursor);
  }
  return dump_line(json) + "\n";
}

std::string encode(const Response& response) {
  OrderedJson json = {{"id", response.id}, {"ok", response.ok()}};
  if (!response.ok()) json["error"] = to_string(response.error);
  json["message"] = response.message;
  if (response.hello_version) json["hello"] = {{"version", *response.hello_version}};
  if (response.status) json["status"] = to_json(*response.status);
  if (response.failures) {
    json["failures"] = array_json(*response.failures);
    json["more"] = response.next_cursor.has_value();
    if (response.next_cursor) json["next_cursor"] = cursor_text(*response.next_cursor);
  }
  if (response.plans) json["plans"] = array_json(*response.plans);
  return dump_line(json) + "\n";
}

Decoded<Request> decode_request(std::string_view line) {
  std::string error;
  const std::optional<Json> json = parse(line, error);
  if (!json) return DecodeError{ErrorCode::BadRequest, error, 0};

  Reader in(*json, "", error);
  Request request;
  request.id = in.integer("id", 0);
  const std::string name = in.string("method", true);
  if (in.failed()) return DecodeError{ErrorCode::BadRequest, error, request.id};

  const std::optional<Method> method = method_from_string(name);
  if (!method) {
    return DecodeError{ErrorCode::UnknownMethod,
                       "unknown method \"" + name + "\"; known methods: " + known_method_names(),
                       request.id};
  }
  request.method = *method;
  request.mirror = in.string("mirror");
  switch (request.method) {
    case Method::Hello:
      request.version =
          static_cast<int>(in.integer("version", 0, true, 1, std::numeric_limits<int>::max()));
      break;
    case Method::Limit:  // bytes/s; 0 lifts the limit
      request.value = in.integer("value", 0, true, 0, kInt64Max);
      break;
    case Method::Transfers:  // 0 = auto
      request.value = in.integer("value", 0, true, 0, kMaxTransfers);
      break;
    case Method::Failures:
      if (in.has("limit"))
        request.limit = in.integer("limit", kDefaultFailuresPage, true, 1, kMaxFailuresPage);
      if (in.has("cursor")) {
        const std::string text = in.string("cursor");
        if (!text.empty()) request.cursor = cursor_from_text(text);  // "": from the first
        if (!in.failed() && !text.empty() && !request.cursor)
          in.fail("\"cursor\" is not one this daemon gave: pass next_cursor back unchanged");
      }
      break;
    case Method::Plan:
      if (!in.failed() && request.mirror.empty())
        in.fail("plan needs \"mirror\": the plan is made for one mirror at a time");
      break;
    case Method::Refetch:
      if (!in.failed() && request.mirror.empty())
        in.fail("refetch needs \"mirror\": fetching a whole mirror again is asked for by name");
      break;
    default:
      break;
  }
  if (in.failed()) return DecodeError{ErrorCode::BadRequest, name + ": " + error, request.id};
  return request;
}

Decoded<Response> decode_response(std::string_view line) {
  std::string error;
  const std::optional<Json> json = parse(line, error);
  if (!json) return DecodeError{ErrorCode::BadRequest, error, 0};

  Reader in(*json, "", error);
  Response response;
  response.id = in.integer("id", 0);
  const bool ok = in.boolean("ok", true);
  response.message = in.string("message");
  if (!ok) {
    const std::string code = in.string("error", true);
    // A code from a newer daemon is still an error; keep its name in the message.
    const std::optional<ErrorCode> known = error_code_from_string(code);
    response.error = known && *known != ErrorCode::None ? *known : ErrorCode::Failed;
    if (!in.failed() && (!known || *known == ErrorCode::None))
      response.message = code + ": " + response.message;
  }
  if (in.has("hello"))
    response.hello_version = static_cast<int>(
        in.object("hello").integer("version", 0, true, 1, std::numeric_limits<int>::max()));
  if (in.has("status")) {
    Reader status = in.object("status");
    response.status = read_status(status);
  }
  if (in.has("failures")) {
    response.failures.emplace();
    in.objects("failures", [&](Reader& item) { response.failures->push_back(read_failed(item)); });
    // Absent from a daemon older than paging: it sent every failure at once.
    if (in.boolean("more")) {
      const std::string text = in.string("next_cursor", true);
      response.next_cursor = cursor_from_text(text);
      if (!in.failed() && !response.next_cursor)
        in.fail("\"next_cursor\" is not a cursor: expected hex digits");
    }
  }
  if (in.has("plans")) {
    response.plans.emplace();
    in.objects("plans", [&](Reader& item) { response.plans->push_back(read_plan(item)); });
  }
  if (in.failed()) return DecodeError{ErrorCode::BadRequest, error, response.id};
  return response;
}

std::string result_json(const Response& response, int indent) {
  OrderedJson json;
  if (!response.ok())
    json = {{"error", to_string(response.error)}, {"message", response.message}};
  else if (response.status)
    json = to_json(*response.status);
  else if (response.failures)
    json = array_json(*response.failures);
  else if (response.plans)
    json = array_json(*response.plans);
  else if (response.hello_version)
    json = {{"version", *response.hello_version}};
  else
    json = {{"message", response.message}};
  return dump_line(json, indent) + "\n";
}

std::string failure_json(const FailedFile& failed, int indent) {
  return dump_line(to_json(failed), indent);
}

}  // namespace pnsync::protocol
