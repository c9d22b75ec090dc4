#include <gtest/gtest.h>

#include <array>
#include <optional>

#include "platform/http/server_impl.hpp"

namespace intercab::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A connected loopback socket pair and a read pending on one end, which the peer never feeds.
class LazyDeadlineTest : public ::testing::Test {
 protected:
  LazyDeadlineTest() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), reader_(io_), peer_(io_) {
    reader_.connect(acceptor_.local_endpoint());
    acceptor_.accept(peer_);
  }

  void start_read() {
    reader_.async_read_some(asio::buffer(bytes_), [this](const beast::error_code& error, std::size_t) {
      read_error_ = error;
      read_ended_ = Clock::now();
    });
  }
  // Runs the io_context until the read ends or `limit` passes; returns when it ended, after the start.
  std::optional<Clock::duration> run_for(Clock::duration limit) {
    io_.run_for(limit);
    if (!read_ended_) return std::nullopt;
    return *read_ended_ - started_;
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  tcp::socket reader_;
  tcp::socket peer_;
  std::array<char, 16> bytes_{};
  const Clock::time_point started_ = Clock::now();
  beast::error_code read_error_;
  std::optional<Clock::time_point> read_ended_;
};

TEST_F(LazyDeadlineTest, PassingDeadlineCancelsTheReadAndSaysSo) {
  detail::LazyDeadline deadline(reader_);
  deadline.expires_after(50ms);
  start_read();
  const auto ended = run_for(2s);
  ASSERT_TRUE(ended) << "the read outlived its deadline";
  EXPECT_GE(*ended, 50ms);
  EXPECT_EQ(read_error_, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.expired());
}

TEST_F(LazyDeadlineTest, DeadlineMovedLaterIsKeptAndMovedEarlierIsMet) {
  detail::LazyDeadline deadline(reader_);
  deadline.expires_after(60ms);
  start_read();
  deadline.expires_after(5s);  // later: the pending timer fires at 60 ms and waits again
  auto ended = run_for(150ms);
  EXPECT_FALSE(ended) << "cancelled at the deadline that was moved";
  EXPECT_FALSE(deadline.expired());
  deadline.expires_after(20ms);  // earlier than the 5 s one: the timer is re-armed
  ended = run_for(3s);
  ASSERT_TRUE(ended) << "the deadline moved earlier was not met";
  EXPECT_TRUE(deadline.expired());
}

TEST_F(LazyDeadlineTest, NeverDisarmsAndDestructionLeavesTheSocketAlone) {
  {
    detail::LazyDeadline deadline(reader_);
    deadline.expires_after(30ms);
    start_read();
    deadline.expires_never();
    EXPECT_FALSE(run_for(150ms)) << "cancelled although the deadline was lifted";
    deadline.expires_after(10s);
  }  // destroyed with a wait pending
  EXPECT_FALSE(run_for(100ms));
  asio::write(peer_, asio::buffer(std::string_view("x")));
  ASSERT_TRUE(run_for(1s)) << "the read still works";
  EXPECT_FALSE(read_error_);
}

}  // namespace
}  // namespace intercab::http
