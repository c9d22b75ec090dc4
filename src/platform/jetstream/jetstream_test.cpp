// Contract tests of the JetStream wrapper against a real nats-server -js: streams, de-duplicated publishing,
// headers, and the delivery rules of durable pull consumers (ack, nak with delay, max_deliver, term, backoff).
#include "platform/jetstream/jetstream.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "nats_server.hpp"

namespace intercab::jetstream {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Deadlines for things that must happen: generous, because sanitizer builds share 2 cores with other tests.
constexpr auto kEventually = 20s;
constexpr auto kPublishTimeout = 5s;

class JetStreamContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new intercab::testing::NatsServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override { connection_.emplace(options()); }

  static ConnectionOptions options() {
    ConnectionOptions result;
    result.url = server_->url();
    result.name = "jetstream-contract-test";
    return result;
  }

  Connection& connection() { return *connection_; }

  // A file-backed stream named NAME capturing the subject `subject`, created fresh for one test.
  StreamSettings make_stream(const std::string& name, const std::string& subject) {
    StreamSettings settings;
    settings.name = name;
    settings.subjects = {subject};
    settings.max_age = 1h;
    settings.duplicate_window = 1min;
    connection().ensure_stream(settings);
    return settings;
  }

  static ConsumerSettings consumer_settings(const std::string& stream, const std::string& durable) {
    ConsumerSettings settings;
    settings.stream = stream;
    settings.durable_name = durable;
    return settings;
  }

  PublishAck publish(const std::string& subject, const std::string& payload, const std::string& msg_id) {
    return connection().publish(subject, payload, msg_id, {}, kPublishTimeout);
  }

  // Fetches until `count` messages arrived, failing the test at the deadline.
  static std::vector<Message> fetch_exactly(PullConsumer& consumer, std::size_t count) {
    std::vector<Message> messages;
    const auto deadline = Clock::now() + kEventually;
    while (messages.size() < count && Clock::now() < deadline) {
      for (auto& message : consumer.fetch(static_cast<int>(count - messages.size()), 500ms)) {
        messages.push_back(std::move(message));
      }
    }
    EXPECT_EQ(messages.size(), count) << "messages did not arrive within " << kEventually.count() << " s";
    return messages;
  }

  static Message fetch_one(PullConsumer& consumer) {
    auto messages = fetch_exactly(consumer, 1);
    if (messages.empty()) throw std::runtime_error("no message arrived");
    return std::move(messages.front());
  }

  static inline intercab::testing::NatsServer* server_ = nullptr;
  std::optional<Connection> connection_;
};

TEST_F(JetStreamContract, ConnectsToARunningServer) { EXPECT_EQ(connection().unavailable_reason(), std::nullopt); }

TEST_F(JetStreamContract, ConnectsThroughAServerListWithADeadEntry) {
  auto with_list = options();
  with_list.url = "nats://127.0.0.1:" + std::to_string(intercab::testing::free_loopback_port()) + ", " + server_->url();
  Connection listed(with_list);
  const auto deadline = Clock::now() + kEventually;
  while (listed.unavailable_reason() && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(listed.unavailable_reason(), std::nullopt);
}

TEST_F(JetStreamContract, EnsureStreamIsIdempotentAndAppliesChanges) {
  auto settings = make_stream("ENSURE", "ensure.a");
  connection().ensure_stream(settings);  // same settings again: nothing to do, no error

  auto info = connection().stream_info("ENSURE");
  EXPECT_EQ(info.settings.name, "ENSURE");
  EXPECT_EQ(info.settings.subjects, std::vector<std::string>{"ensure.a"});
  EXPECT_EQ(info.settings.max_age, 1h);
  EXPECT_EQ(info.settings.duplicate_window, 1min);
  EXPECT_EQ(info.settings.storage, Storage::file);
  EXPECT_EQ(info.messages, 0u);

  settings.subjects.push_back("ensure.b");
  settings.max_age = 2h;
  settings.duplicate_window = 30s;
  connection().ensure_stream(settings);
  info = connection().stream_info("ENSURE");
  EXPECT_EQ(info.settings.subjects, (std::vector<std::string>{"ensure.a", "ensure.b"}));
  EXPECT_EQ(info.settings.max_age, 2h);
  EXPECT_EQ(info.settings.duplicate_window, 30s);
  EXPECT_EQ(publish("ensure.b", "{}", "ensure-1").stream, "ENSURE");
}

TEST_F(JetStreamContract, EnsureStreamRefusesToChangeStorage) {
  auto settings = make_stream("STORAGE", "storage.events");
  settings.storage = Storage::memory;
  try {
    connection().ensure_stream(settings);
    FAIL() << "storage change was accepted";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::rejected);
  }
  EXPECT_EQ(connection().stream_info("STORAGE").settings.storage, Storage::file);
}

TEST_F(JetStreamContract, PublishReturnsIncreasingSequences) {
  make_stream("SEQUENCES", "sequences.events");
  std::uint64_t previous = 0;
  for (int i = 0; i < 5; ++i) {
    const auto ack = publish("sequences.events", "event " + std::to_string(i), "seq-" + std::to_string(i));
    EXPECT_EQ(ack.stream, "SEQUENCES");
    EXPECT_FALSE(ack.duplicate);
    EXPECT_GT(ack.sequence, previous);
    previous = ack.sequence;
  }
  EXPECT_EQ(connection().stream_info("SEQUENCES").messages, 5u);
}

TEST_F(JetStreamContract, OneConnectionPublishesFromManyThreads) {
  make_stream("THREADS", "threads.events");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::vector<std::uint64_t>> sequences(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto id = "thread-" + std::to_string(t) + "-" + std::to_string(i);
        sequences[static_cast<std::size_t>(t)].push_back(publish("threads.events", id, id).sequence);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<std::uint64_t> all;
  for (const auto& per_thread : sequences) all.insert(all.end(), per_thread.begin(), per_thread.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "two publishes got the same sequence";
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(connection().stream_info("THREADS").messages, static_cast<std::uint64_t>(kThreads * kPerThread));
}

TEST_F(JetStreamContract, SameMessageIdWithinTheWindowIsStoredOnce) {
  make_stream("DEDUP", "dedup.events");
  const auto first = publish("dedup.events", "created", "booking-42-created");
  const auto second = publish("dedup.events", "created", "booking-42-created");
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.sequence, first.sequence);
  EXPECT_EQ(connection().stream_info("DEDUP").messages, 1u);

  const auto other = publish("dedup.events", "created", "booking-43-created");
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(connection().stream_info("DEDUP").messages, 2u);
}

TEST_F(JetStreamContract, HeadersAndBinaryPayloadRoundTrip) {
  make_stream("HEADERS", "headers.events");
  constexpr char kPayload[] = "{\"fare\":\"\xe2\x82\xb9 120\"}\0tail";  // UTF-8 and a NUL byte
  const std::string payload(kPayload, sizeof(kPayload) - 1);
  const auto ack =
      connection().publish("headers.events", payload, "headers-1",
                           {{"Ce-Type", "booking.created"}, {"Ce-Id", "evt-1"}, {"traceparent", "00-abc-def-01"}},
                           kPublishTimeout, "HEADERS");
  const auto before = std::chrono::system_clock::now();

  auto consumer = connection().pull_consumer(consumer_settings("HEADERS", "reader"));
  auto message = fetch_one(consumer);
  EXPECT_EQ(message.subject(), "headers.events");
  EXPECT_EQ(message.data(), payload);
  EXPECT_EQ(message.header("Ce-Type"), "booking.created");
  EXPECT_EQ(message.header("Ce-Id"), "evt-1");
  EXPECT_EQ(message.header("traceparent"), "00-abc-def-01");
  EXPECT_EQ(message.header("Nats-Msg-Id"), "headers-1");
  EXPECT_EQ(message.header("Ce-Source"), std::nullopt);
  EXPECT_EQ(message.delivery_count(), 1u);
  EXPECT_EQ(message.stream_sequence(), ack.sequence);
  EXPECT_LT(std::chrono::abs(message.stored_at() - before), std::chrono::system_clock::duration(1min));
  message.ack();
}

TEST_F(JetStreamContract, DurableConsumerResumesAfterTheLastAckedMessage) {
  make_stream("RESUME", "resume.events");
  std::vector<std::uint64_t> sequences;
  for (int i = 0; i < 5; ++i)
    sequences.push_back(publish("resume.events", std::to_string(i), "r" + std::to_string(i)).sequence);

  {
    auto first = connection().pull_consumer(consumer_settings("RESUME", "notification"));
    auto messages = fetch_exactly(first, 3);
    ASSERT_EQ(messages.size(), 3u);
    for (std::size_t i = 0; i < messages.size(); ++i) {
      EXPECT_EQ(messages[i].stream_sequence(), sequences[i]);
      messages[i].ack();
    }
  }
  auto second = connection().pull_consumer(consumer_settings("RESUME", "notification"));
  auto rest = fetch_exactly(second, 2);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].stream_sequence(), sequences[3]);
  EXPECT_EQ(rest[1].stream_sequence(), sequences[4]);
  EXPECT_EQ(rest[0].data(), "3");
  for (auto& message : rest) message.ack();
  EXPECT_TRUE(second.fetch(10, 500ms).empty());
}

TEST_F(JetStreamContract, DurableConsumersOfDifferentServicesEachGetEveryMessage) {
  make_stream("FANOUT", "fanout.events");
  auto notification = connection().pull_consumer(consumer_settings("FANOUT", "notification"));
  auto analytics = connection().pull_consumer(consumer_settings("FANOUT", "analytics"));
  publish("fanout.events", "x", "fanout-1");
  auto a = fetch_one(notification);
  auto b = fetch_one(analytics);
  EXPECT_EQ(a.stream_sequence(), b.stream_sequence());
  a.ack();
  b.ack();
}

TEST_F(JetStreamContract, NakWithDelayRedeliversAfterTheDelay) {
  make_stream("NAKDELAY", "nakdelay.events");
  auto consumer = connection().pull_consumer(consumer_settings("NAKDELAY", "worker"));
  publish("nakdelay.events", "retry me", "nak-1");
  auto first = fetch_one(consumer);
  EXPECT_EQ(first.delivery_count(), 1u);
  const auto naked_at = Clock::now();
  first.nak(2s);

  auto again = fetch_one(consumer);
  EXPECT_GE(Clock::now() - naked_at, 1500ms) << "redelivered before the nak delay";
  EXPECT_EQ(again.stream_sequence(), first.stream_sequence());
  EXPECT_EQ(again.delivery_count(), 2u);
  EXPECT_EQ(again.data(), "retry me");
  again.ack();
}

TEST_F(JetStreamContract, MaxDeliverStopsRedeliveries) {
  make_stream("MAXDELIVER", "maxdeliver.events");
  auto settings = consumer_settings("MAXDELIVER", "worker");
  settings.max_deliver = 2;
  auto consumer = connection().pull_consumer(settings);
  publish("maxdeliver.events", "poison", "poison-1");

  auto first = fetch_one(consumer);
  first.nak();
  auto second = fetch_one(consumer);
  EXPECT_EQ(second.stream_sequence(), first.stream_sequence());
  EXPECT_EQ(second.delivery_count(), 2u);
  second.nak();
  EXPECT_TRUE(consumer.fetch(1, 2s).empty()) << "delivered a third time despite max_deliver 2";

  // The consumer itself still works: the next message arrives.
  publish("maxdeliver.events", "fine", "fine-1");
  auto next = fetch_one(consumer);
  EXPECT_EQ(next.data(), "fine");
  EXPECT_EQ(next.delivery_count(), 1u);
  next.ack();
}

TEST_F(JetStreamContract, TermStopsRedelivery) {
  make_stream("TERM", "term.events");
  auto settings = consumer_settings("TERM", "worker");
  settings.ack_wait = 1s;  // without term the message would come back after this
  auto consumer = connection().pull_consumer(settings);
  publish("term.events", "bad", "term-1");
  fetch_one(consumer).term();
  EXPECT_TRUE(consumer.fetch(1, 3s).empty()) << "a terminated message was delivered again";

  publish("term.events", "good", "term-2");
  auto next = fetch_one(consumer);
  EXPECT_EQ(next.data(), "good");
  next.ack();
}

TEST_F(JetStreamContract, UnackedMessageComesBackAfterAckWait) {
  make_stream("ACKWAIT", "ackwait.events");
  auto settings = consumer_settings("ACKWAIT", "worker");
  settings.ack_wait = 1s;
  auto consumer = connection().pull_consumer(settings);
  publish("ackwait.events", "lost", "ackwait-1");
  const auto first_sequence = fetch_one(consumer).stream_sequence();  // dropped without an ack
  auto again = fetch_one(consumer);
  EXPECT_EQ(again.stream_sequence(), first_sequence);
  EXPECT_EQ(again.delivery_count(), 2u);
  again.ack();
}

TEST_F(JetStreamContract, InProgressHoldsOffRedelivery) {
  make_stream("PROGRESS", "progress.events");
  auto settings = consumer_settings("PROGRESS", "worker");
  settings.ack_wait = 2s;
  auto consumer = connection().pull_consumer(settings);
  publish("progress.events", "slow work", "progress-1");
  auto message = fetch_one(consumer);

  // Work for more than twice ack_wait, reporting progress well within it each time.
  const auto until = Clock::now() + 5s;
  while (Clock::now() < until) {
    message.in_progress();
    EXPECT_TRUE(consumer.fetch(1, 250ms).empty()) << "redelivered while in progress";
  }
  message.ack();
  EXPECT_TRUE(consumer.fetch(1, 3s).empty()) << "redelivered after the ack";
}

TEST_F(JetStreamContract, BackoffSpacesRedeliveries) {
  make_stream("BACKOFF", "backoff.events");
  auto settings = consumer_settings("BACKOFF", "worker");
  settings.backoff = {500ms, 2500ms};
  settings.max_deliver = 3;
  auto consumer = connection().pull_consumer(settings);
  publish("backoff.events", "flaky", "backoff-1");

  const auto first_delivery = fetch_one(consumer);  // not acked
  const auto first_at = Clock::now();
  auto second = fetch_one(consumer);
  const auto second_at = Clock::now();
  EXPECT_EQ(second.delivery_count(), 2u);
  auto third = fetch_one(consumer);
  EXPECT_EQ(third.delivery_count(), 3u);
  EXPECT_GE(Clock::now() - second_at, 2s) << "the second backoff delay was not applied";
  EXPECT_GE(second_at - first_at, 300ms);
  third.ack();
  EXPECT_EQ(first_delivery.stream_sequence(), third.stream_sequence());
}

TEST_F(JetStreamContract, ChangedConsumerSettingsAreApplied) {
  make_stream("UPDATE", "update.events");
  auto settings = consumer_settings("UPDATE", "worker");
  settings.max_deliver = 1;
  connection().pull_consumer(settings);

  settings.max_deliver = 2;  // a second delivery is only possible if the update reached the server
  auto consumer = connection().pull_consumer(settings);
  publish("update.events", "x", "update-1");
  fetch_one(consumer).nak();
  auto again = fetch_one(consumer);
  EXPECT_EQ(again.delivery_count(), 2u);
  again.ack();
}

TEST_F(JetStreamContract, MessageCanBeAckedAfterItsConsumerAndConnectionAreGone) {
  make_stream("OUTLIVE", "outlive.events");
  auto settings = consumer_settings("OUTLIVE", "worker");
  settings.ack_wait = 1s;
  publish("outlive.events", "x", "outlive-1");
  std::optional<Message> message;
  {
    Connection other(options());
    auto consumer = other.pull_consumer(settings);
    message.emplace(fetch_one(consumer));
  }
  message->ack();
  message.reset();  // closes the connection it kept open, flushing the ack

  auto consumer = connection().pull_consumer(settings);
  EXPECT_TRUE(consumer.fetch(1, 3s).empty()) << "the ack sent after the consumer was destroyed was lost";
}

TEST_F(JetStreamContract, PublishingWhereNoStreamListensFailsAtOnce) {
  const auto started = Clock::now();
  try {
    publish("nobody.listens.here", "x", "lost-1");
    FAIL() << "publish without a stream succeeded";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::unavailable) << error.what();
  }
  EXPECT_LT(Clock::now() - started, 4s) << "no-responders should not wait for the timeout";
}

TEST_F(JetStreamContract, WrongExpectedStreamIsRejected) {
  make_stream("EXPECTED", "expected.events");
  try {
    connection().publish("expected.events", "x", "expected-1", {}, kPublishTimeout, "SOMETHING_ELSE");
    FAIL() << "publish with the wrong expected stream succeeded";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::rejected) << error.what();
    EXPECT_EQ(error.api_error_code(), 10060) << error.what();
  }
  EXPECT_EQ(connection().stream_info("EXPECTED").messages, 0u);
}

TEST_F(JetStreamContract, ConsumerOfAMissingStreamIsRejected) {
  try {
    connection().pull_consumer(consumer_settings("NO_SUCH_STREAM", "worker"));
    FAIL() << "consumer of a missing stream was created";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.kind(), JetStreamError::Kind::rejected) << error.what();
    EXPECT_EQ(error.api_error_code(), 10059) << error.what();
  }
}

TEST_F(JetStreamContract, UnknownStreamInfoIsRejected) {
  try {
    connection().stream_info("NO_SUCH_STREAM");
    FAIL() << "stream_info of a missing stream succeeded";
  } catch (const JetStreamError& error) {
    EXPECT_EQ(error.api_error_code(), 10059) << error.what();
  }
}

TEST_F(JetStreamContract, UnusableArgumentsAreRefusedBeforeReachingTheServer) {
  const auto expect_invalid = [](auto&& action, const char* what) {
    try {
      action();
      ADD_FAILURE() << what << " was accepted";
    } catch (const JetStreamError& error) {
      EXPECT_EQ(error.kind(), JetStreamError::Kind::invalid_argument) << what << ": " << error.what();
    }
  };
  make_stream("ARGS", "args.events");
  expect_invalid([&] { connection().pull_consumer(consumer_settings("ARGS", "")); }, "empty durable name");
  expect_invalid([&] { connection().pull_consumer(consumer_settings("ARGS", "a.b")); }, "durable name with a dot");
  expect_invalid(
      [&] {
        auto settings = consumer_settings("ARGS", "worker");
        settings.backoff = {1s, 2s};
        settings.max_deliver = 2;
        connection().pull_consumer(settings);
      },
      "backoff longer than max_deliver allows");
  expect_invalid([&] { connection().ensure_stream(StreamSettings{"BAD.NAME", {"bad"}}); }, "stream name with a dot");
  expect_invalid([&] { connection().ensure_stream(StreamSettings{"NOSUBJECTS", {}}); }, "stream without subjects");
  expect_invalid([&] { connection().publish("", "x", "id", {}, 1s); }, "empty subject");
  expect_invalid([&] { connection().publish("args.events", "x", "id", {}, 0ms); }, "zero timeout");
  auto consumer = connection().pull_consumer(consumer_settings("ARGS", "worker"));
  expect_invalid([&] { consumer.fetch(0, 1s); }, "batch 0");
  expect_invalid([] { Connection unusable(ConnectionOptions{}); }, "empty url");
  for (const std::string url : {"nats://", "http://127.0.0.1:4222", "nats://user:secret@"}) {
    ConnectionOptions unusable;
    unusable.url = url;
    expect_invalid([&] { Connection connection(unusable); }, url.c_str());
  }
}

}  // namespace
}  // namespace intercab::jetstream
