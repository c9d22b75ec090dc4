// The event envelope every service publishes and consumes: CloudEvents 1.0 in its JSON format
// (https://github.com/cloudevents/spec, json-format.md), with the W3C traceparent extension so a
// consumer's logs continue the trace of the request that caused the event.
#pragma once

#include <boost/json/value.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace intercab::events {

// An envelope that is not valid CloudEvents JSON or lacks a required attribute; what() says which.
class InvalidEvent : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Event {
  std::string id;       // unique per event; consumers deduplicate by it
  std::string source;   // "/intercab/booking": the producing service
  std::string type;     // "booking.created"
  std::string subject;  // the aggregate: a booking id, a user id...
  std::string time;     // RFC 3339 UTC, when the change happened
  std::string datacontenttype = "application/json";
  std::string traceparent;  // empty when the change had no trace
  boost::json::value data;
};

// The topics of the platform ("booking.events", ...), and whether `topic` is one of them.
const std::vector<std::string>& topics();
bool is_topic(std::string_view topic);

// The service that produces a topic: "booking.events" -> "booking".
std::string producer_of(std::string_view topic);

// A new event from `service` with a fresh id, the current time and the current trace (if any).
Event make_event(std::string_view service, std::string type, std::string subject, boost::json::value data);

// CloudEvents JSON: specversion "1.0" plus the attributes above.
std::string to_json(const Event& event);

// Parses and checks an envelope: specversion 1.0, non-empty id/source/type, JSON data.
// Throws InvalidEvent naming the attribute at fault.
Event parse_event(std::string_view json);

// The current UTC time as RFC 3339 with milliseconds ("2026-11-28T17:39:00.123Z").
std::string utc_now_rfc3339();

}  // namespace intercab::events
