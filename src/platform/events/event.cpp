// CloudEvents 1.0 JSON envelopes: construction, serialisation and strict parsing.
#include "platform/events/event.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "platform/text/text.hpp"
#include "platform/trace/current.hpp"
#include "platform/trace/trace.hpp"

namespace intercab::events {

const std::vector<std::string>& topics() {
  static const std::vector<std::string> kTopics = {"user.events",     "booking.events", "payment.events",
                                                   "location.events", "driver.events",  "notification.events"};
  return kTopics;
}

bool is_topic(std::string_view topic) {
  for (const auto& known : topics()) {
    if (known == topic) return true;
  }
  return false;
}

std::string producer_of(std::string_view topic) { return std::string(topic.substr(0, topic.find('.'))); }

std::string utc_now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];  // room for any int the compiler cannot rule out
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

Event make_event(std::string_view service, std::string type, std::string subject, boost::json::value data) {
  Event event;
  event.id = text::new_uuid_v4();
  event.source = "/intercab/" + std::string(service);
  event.type = std::move(type);
  event.subject = std::move(subject);
  event.time = utc_now_rfc3339();
  if (const auto* trace = trace::current()) event.traceparent = trace::to_traceparent(*trace);
  event.data = std::move(data);
  return event;
}

std::string to_json(const Event& event) {
  boost::json::object envelope{{"specversion", "1.0"},
                               {"id", event.id},
                               {"source", event.source},
                               {"type", event.type},
                               {"datacontenttype", event.datacontenttype},
                               {"data", event.data}};
  if (!event.subject.empty()) envelope["subject"] = event.subject;
  if (!event.time.empty()) envelope["time"] = event.time;
  if (!event.traceparent.empty()) envelope["traceparent"] = event.traceparent;
  return boost::json::serialize(envelope);
}

namespace {

std::string attribute(const boost::json::object& envelope, std::string_view name, bool required) {
  const auto* value = envelope.if_contains(name);
  if (value == nullptr || value->is_null()) {
    if (required) throw InvalidEvent("CloudEvent attribute '" + std::string(name) + "' is missing");
    return {};
  }
  if (!value->is_string()) throw InvalidEvent("CloudEvent attribute '" + std::string(name) + "' must be a string");
  std::string text(value->as_string());
  if (required && text.empty()) throw InvalidEvent("CloudEvent attribute '" + std::string(name) + "' is empty");
  return text;
}

}  // namespace

Event parse_event(std::string_view json) {
  boost::system::error_code error;
  auto document = boost::json::parse(json, error);
  if (error) throw InvalidEvent("not a JSON CloudEvent: " + error.message());
  if (!document.is_object()) throw InvalidEvent("a JSON CloudEvent must be an object");
  const auto& envelope = document.as_object();
  if (attribute(envelope, "specversion", true) != "1.0") {
    throw InvalidEvent("CloudEvent attribute 'specversion' must be \"1.0\"");
  }
  Event event;
  event.id = attribute(envelope, "id", true);
  event.source = attribute(envelope, "source", true);
  event.type = attribute(envelope, "type", true);
  event.subject = attribute(envelope, "subject", false);
  event.time = attribute(envelope, "time", false);
  event.traceparent = attribute(envelope, "traceparent", false);
  auto content_type = attribute(envelope, "datacontenttype", false);
  if (!content_type.empty() && content_type != "application/json") {
    throw InvalidEvent("CloudEvent attribute 'datacontenttype' must be application/json, not " + content_type);
  }
  if (const auto* data = envelope.if_contains("data")) event.data = *data;
  return event;
}

}  // namespace intercab::events
