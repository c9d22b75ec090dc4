// Crash test of the outbox and inbox, on the embedded bus and on NATS JetStream:
//  1. a producer commits state changes with their events and is killed (SIGKILL) before any
//     relay ran: the events exist only in its outbox;
//  2. a relay starts, and a consumer that kills itself right after committing the effect of the
//     7th event, before acknowledging it;
//  3. the consumer restarts: every event's effect exists exactly once (none lost, none doubled),
//     and on NATS the unacknowledged event came back (at least once) and was skipped by the inbox.
#include <gtest/gtest.h>
#include <signal.h>
#include <soci/soci.h>

#include <fstream>
#include <set>
#include <thread>

#include "nats_server.hpp"
#include "platform/db/db.hpp"
#include "process.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;

constexpr int kEvents = 40;

bool wait_for_line(const testing::ChildProcess& child, const std::string& line, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (child.log().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void run_crash_scenario(const std::string& bus_url, bool expect_redelivery) {
  const auto probe = testing::required_env("INTERCAB_EVENTS_PROBE");
  testing::TempDir dir("intercab-crash");
  const auto dir_text = dir.path().string();

  {
    testing::ChildProcess producer(probe, {"produce", dir_text, bus_url, std::to_string(kEvents)}, {},
                                   dir.path() / "produce.log");
    ASSERT_TRUE(wait_for_line(producer, "committed", 60s)) << producer.log();
    producer.signal(SIGKILL);
    ASSERT_EQ(producer.wait(10s), 128 + SIGKILL);
  }

  testing::ChildProcess relay(probe, {"relay", dir_text, bus_url}, {}, dir.path() / "relay.log");
  {
    testing::ChildProcess dying(probe, {"consume", dir_text, bus_url, std::to_string(kEvents), "7"}, {},
                                dir.path() / "consume-1.log");
    const auto status = dying.wait(60s);
    ASSERT_TRUE(status.has_value()) << dying.log();
    ASSERT_EQ(*status, 128 + SIGKILL) << "the consumer should have killed itself after its 7th effect\n" << dying.log();
  }
  testing::ChildProcess consumer(probe, {"consume", dir_text, bus_url, std::to_string(kEvents)}, {},
                                 dir.path() / "consume-2.log");
  const auto status = consumer.wait(90s);
  ASSERT_TRUE(status.has_value()) << consumer.log();
  EXPECT_EQ(*status, 0) << consumer.log() << relay.log();

  auto store = db::Database::open("sqlite://" + (dir.path() / "notification.db").string());
  const auto sequences = store->with_session([](soci::session& sql) {
    std::vector<long long> values(std::size_t{10} * kEvents);
    sql << "SELECT sequence FROM effects ORDER BY rowid", soci::into(values);
    return values;
  });
  ASSERT_EQ(sequences.size(), static_cast<std::size_t>(kEvents)) << "every event applied exactly once";
  for (std::size_t i = 0; i < sequences.size(); ++i) EXPECT_EQ(sequences[i], static_cast<long long>(i + 1));
  if (expect_redelivery) {
    // At least the event whose ack was lost comes back and is skipped. It may come back more than
    // once (an ack sent but lost, or late past ack_wait, brings an event back again): delivery is
    // at least once, and the effects counted above are what must be exactly once.
    const auto at = consumer.log().find("duplicates ");
    ASSERT_NE(at, std::string::npos) << consumer.log();
    EXPECT_GE(std::stoi(consumer.log().substr(at + 11)), 1)
        << "the event whose ack was lost should have come back and been skipped\n"
        << consumer.log();
  }
}

TEST(EventsCrash, EmbeddedBusLosesNothingAndAppliesNothingTwice) { run_crash_scenario("mem://", false); }

TEST(EventsCrash, NatsBusLosesNothingAndAppliesNothingTwice) {
  testing::NatsServer nats;
  run_crash_scenario(nats.url(), true);
}

}  // namespace
}  // namespace intercab
