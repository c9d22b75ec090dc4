// Integration tests of the JetStream wrapper across nats-server outages: a server stopped and restarted on the same
// port and store, a hung server, and a server that is not up yet when the service starts.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <thread>

#include "nats_server.hpp"
#include "platform/jetstream/jetstream.hpp"

namespace intercab::jetstream {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kEventually = 20s;

bool eventually(const std::function<bool()>& condition, Clock::duration timeout = kEventually) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

class JetStreamReconnect : public ::testing::Test {
 protected:
  ConnectionOptions options() const {
    ConnectionOptions result;
    result.url = server_.url();
    result.name = "jetstream-reconnect-test";
    result.connect_timeout = 1s;
    result.reconnect_wait = 250ms;
    return result;
  }

  static StreamSettings stream_settings() {
    StreamSettings settings;
    settings.name = "BOOKING_EVENTS";
    settings.subjects = {"booking.events"};
    settings.max_age = 24h;
    settings.duplicate_window = 2min;
    return settings;
  }

  static ConsumerSettings consumer_settings() {
    ConsumerSettings settings;
    settings.stream = "BOOKING_EVENTS";
    settings.durable_name = "notification";
    return settings;
  }

  static PublishAck publish(Connection& connection, const std::string& payload, const std::string& msg_id,
                            std::chrono::milliseconds timeout = 5s) {
    return connection.publish("booking.events", payload, msg_id, {{"Ce-Type", "booking.created"}}, timeout);
  }

  static Message fetch_one(PullConsumer& consumer) {
    const auto deadline = Clock::now() + kEventually;
    while (Clock::now() < deadline) {
      auto messages = consumer.fetch(1, 500ms);
      if (!messages.empty()) return std::move(messages.front());
    }
    throw std::runtime_error("no message arrived within the deadline");
  }

  intercab::testing::NatsServer server_;
};

TEST_F(JetStreamReconnect, SurvivesAServerRestartOnTheSamePortAndStore) {
  Connection connection(options());
  connection.ensure_stream(stream_settings());
  auto consumer = connection.pull_consumer(consumer_settings());
  publish(connection, "before", "evt-before");
  auto before = fetch_one(consumer);
  EXPECT_EQ(before.data(), "before");
  before.ack_sync(5s);  // confirmed, so it cannot come back after the restart

  server_.stop();
  ASSERT_TRUE(eventually([&] { return connection.unavailable_reason().has_value(); }, 10s))
      << "the connection did not notice the server going away";
  EXPECT_NE(connection.unavailable_reason()->find("unavailable"), std::string::npos)
      << *connection.unavailable_reason();

  auto started = Clock::now();
  try {
    publish(connection, "lost", "evt-lost", 2s);
    ADD_FAILURE() << "publish succeeded with the server down";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::unavailable) << error.what();
  }
  EXPECT_LT(Clock::now() - started, 3s) << "publish hung past its timeout";

  started = Clock::now();
  try {
    consumer.fetch(1, 1s);
    ADD_FAILURE() << "fetch succeeded with the server down";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::unavailable) << error.what();
  }
  const auto fetch_took = Clock::now() - started;
  EXPECT_GE(fetch_took, 900ms) << "fetch should wait for the connection rather than spin";
  EXPECT_LT(fetch_took, 5s) << "fetch hung past its wait";

  server_.start();
  ASSERT_TRUE(eventually([&] { return !connection.unavailable_reason().has_value(); }, 10s))
      << "did not reconnect by itself: " << connection.unavailable_reason().value_or("");

  const auto after_ack = publish(connection, "after", "evt-after");
  EXPECT_EQ(after_ack.stream, "BOOKING_EVENTS");
  EXPECT_FALSE(after_ack.duplicate);
  EXPECT_EQ(connection.stream_info("BOOKING_EVENTS").messages, 2u) << "the stream did not persist";

  auto after = fetch_one(consumer);
  EXPECT_EQ(after.data(), "after");
  EXPECT_EQ(after.stream_sequence(), after_ack.sequence);
  EXPECT_EQ(after.delivery_count(), 1u);
  EXPECT_EQ(after.header("Ce-Type"), "booking.created");
  after.ack_sync(5s);
  EXPECT_TRUE(consumer.fetch(1, 1s).empty()) << "the message acked before the restart came back";
}

TEST_F(JetStreamReconnect, PublishToAHungServerTimesOutAndARetryIsDeduplicated) {
  Connection connection(options());
  connection.ensure_stream(stream_settings());

  server_.pause();
  const auto started = Clock::now();
  try {
    publish(connection, "payload", "evt-1", 1s);
    ADD_FAILURE() << "publish succeeded against a hung server";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::unavailable) << error.what();
    EXPECT_EQ(error.status_text(), "Timeout") << error.what();
  }
  const auto took = Clock::now() - started;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 4s) << "publish hung past its timeout";
  server_.resume();

  // The timed-out publish may still have been stored once the server woke up; retrying with the same id is safe.
  std::optional<PublishAck> retry;
  ASSERT_TRUE(eventually([&] {
    try {
      retry = publish(connection, "payload", "evt-1");
      return true;
    } catch (const JetStreamError&) {
      return false;
    }
  }));
  EXPECT_EQ(connection.stream_info("BOOKING_EVENTS").messages, 1u);
  EXPECT_EQ(retry->sequence, 1u);
}

TEST_F(JetStreamReconnect, ConsumerIsSetUpAgainWhenTheServerLostIt) {
  Connection connection(options());
  connection.ensure_stream(stream_settings());
  auto consumer = connection.pull_consumer(consumer_settings());

  server_.stop();
  server_.clear_store();  // the stream and the durable consumer are gone
  server_.start();
  ASSERT_TRUE(eventually([&] { return !connection.unavailable_reason().has_value(); }, 10s));
  connection.ensure_stream(stream_settings());
  const auto ack = publish(connection, "after loss", "evt-after-loss");

  // Fetches may fail while the consumer is missing; each failure makes the next fetch create it again.
  std::optional<Message> message;
  int failures = 0;
  ASSERT_TRUE(eventually([&] {
    try {
      auto messages = consumer.fetch(1, 500ms);
      if (!messages.empty()) message.emplace(std::move(messages.front()));
    } catch (const JetStreamError& error) {
      ++failures;
      EXPECT_EQ(error.kind(), JetStreamError::Kind::unavailable) << error.what();
    }
    return message.has_value();
  })) << "the consumer was not set up again";
  EXPECT_LE(failures, 1) << "one failed fetch should be enough to notice";
  EXPECT_EQ(message->data(), "after loss");
  EXPECT_EQ(message->stream_sequence(), ack.sequence);
  message->ack();
}

TEST_F(JetStreamReconnect, ConnectionCreatedWhileTheServerIsDownBecomesUsable) {
  server_.stop();

  const auto started = Clock::now();
  Connection connection(options());
  EXPECT_LT(Clock::now() - started, 5s) << "the constructor waited for the server";
  ASSERT_TRUE(connection.unavailable_reason().has_value());
  EXPECT_NE(connection.unavailable_reason()->find("not connected yet"), std::string::npos)
      << *connection.unavailable_reason();
  EXPECT_THROW(publish(connection, "early", "evt-early", 1s), JetStreamError);

  // A consumer can be declared before the server is up; its first successful fetch sets it up.
  auto consumer = connection.pull_consumer(consumer_settings());
  EXPECT_THROW(consumer.fetch(1, 300ms), JetStreamError);

  server_.start();
  ASSERT_TRUE(eventually([&] { return !connection.unavailable_reason().has_value(); }, 10s))
      << "never connected: " << connection.unavailable_reason().value_or("");
  connection.ensure_stream(stream_settings());
  const auto ack = publish(connection, "first", "evt-first");
  auto message = fetch_one(consumer);
  EXPECT_EQ(message.data(), "first");
  EXPECT_EQ(message.stream_sequence(), ack.sequence);
  message.ack();
}

}  // namespace
}  // namespace intercab::jetstream
