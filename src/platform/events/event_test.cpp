#include "platform/events/event.hpp"

#include <gtest/gtest.h>

#include <boost/json/object.hpp>

#include "platform/events/bus_detail.hpp"
#include "platform/trace/current.hpp"
#include "platform/trace/trace.hpp"

namespace intercab::events {
namespace {

TEST(Event, MakeEventFillsTheCloudEventsAttributes) {
  const auto trace = trace::new_root();
  trace::ScopedTrace scoped(trace);
  const auto event = make_event("booking", "booking.created", "bk_1", boost::json::object{{"fare_paise", 420000}});
  EXPECT_EQ(event.id.size(), 36U);
  EXPECT_EQ(event.source, "/intercab/booking");
  EXPECT_EQ(event.type, "booking.created");
  EXPECT_EQ(event.subject, "bk_1");
  EXPECT_EQ(event.time.size(), 24U) << event.time;  // 2026-11-28T17:39:00.123Z
  EXPECT_EQ(event.time.back(), 'Z');
  EXPECT_EQ(event.traceparent, trace::to_traceparent(trace));
  EXPECT_NE(make_event("booking", "booking.created", "bk_1", nullptr).id, event.id);
}

TEST(Event, RoundTripsThroughJson) {
  auto event = make_event("payment", "payment.captured", "pay_9", boost::json::object{{"amount_paise", 99}});
  event.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto parsed = parse_event(to_json(event));
  EXPECT_EQ(parsed.id, event.id);
  EXPECT_EQ(parsed.source, event.source);
  EXPECT_EQ(parsed.type, event.type);
  EXPECT_EQ(parsed.subject, event.subject);
  EXPECT_EQ(parsed.time, event.time);
  EXPECT_EQ(parsed.traceparent, event.traceparent);
  EXPECT_EQ(parsed.data, event.data);
  EXPECT_NE(to_json(event).find("\"specversion\":\"1.0\""), std::string::npos);
}

TEST(Event, ParsingRejectsBrokenEnvelopesNamingTheAttribute) {
  auto expect_invalid = [](const std::string& json, const std::string& mention) {
    try {
      parse_event(json);
      ADD_FAILURE() << "accepted " << json;
    } catch (const InvalidEvent& error) {
      EXPECT_NE(std::string(error.what()).find(mention), std::string::npos) << error.what();
    }
  };
  expect_invalid("not json", "not a JSON CloudEvent");
  expect_invalid("[1]", "must be an object");
  expect_invalid(R"({"id":"1","source":"/s","type":"t"})", "specversion");
  expect_invalid(R"({"specversion":"0.3","id":"1","source":"/s","type":"t"})", "specversion");
  expect_invalid(R"({"specversion":"1.0","source":"/s","type":"t"})", "'id'");
  expect_invalid(R"({"specversion":"1.0","id":"","source":"/s","type":"t"})", "'id' is empty");
  expect_invalid(R"({"specversion":"1.0","id":"1","source":"/s","type":7})", "'type' must be a string");
  expect_invalid(R"({"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"text/xml"})",
                 "datacontenttype");
}

TEST(Event, TopicsAndTheirProducers) {
  EXPECT_TRUE(is_topic("booking.events"));
  EXPECT_TRUE(is_topic("notification.events"));
  EXPECT_FALSE(is_topic("booking"));
  EXPECT_FALSE(is_topic("orders.events"));
  EXPECT_EQ(producer_of("booking.events"), "booking");
  EXPECT_EQ(producer_of("user.events"), "user");
}

TEST(Event, RedeliveryDelaysDoubleUpToAMinute) {
  using std::chrono::milliseconds;
  EXPECT_EQ(detail::redelivery_delay(milliseconds(500), 1), milliseconds(500));
  EXPECT_EQ(detail::redelivery_delay(milliseconds(500), 2), milliseconds(1000));
  EXPECT_EQ(detail::redelivery_delay(milliseconds(500), 4), milliseconds(4000));
  EXPECT_EQ(detail::redelivery_delay(milliseconds(500), 40), milliseconds(60'000));
}

TEST(Event, SecondsSinceAnEventTime) {
  const auto now = utc_now_rfc3339();
  EXPECT_LT(detail::seconds_since(now), 1.0);
  EXPECT_GT(detail::seconds_since("2020-01-01T00:00:00.000Z"), 1e8);
  EXPECT_EQ(detail::seconds_since("yesterday"), 0.0);
}

}  // namespace
}  // namespace intercab::events
