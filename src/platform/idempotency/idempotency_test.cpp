// with_idempotency() and purge_expired() against a real database: built as idempotency_test (SQLite files in a
// TempDir) and as idempotency_contract_test (INTERCAB_IDEMPOTENCY_TEST_POSTGRES: a private PostgreSQL server), so
// both adapters are proven by the same tests. Each test works in a database of its own, on an injected clock.
#include "platform/idempotency/idempotency.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "platform/errors/errors.hpp"
#include "postgres_server.hpp"
#include "process.hpp"

namespace intercab::idempotency {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

const std::filesystem::path& sqlite_directory() {
  static const testing::TempDir directory("idempotency-test");
  return directory.path();
}

class IdempotencyTest : public ::testing::TestWithParam<db::Dialect> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const std::string name = "idempotency_" + std::to_string(++counter);
    const std::string url = GetParam() == db::Dialect::kPostgres
                                ? testing::PostgresServer::shared().url(name)
                                : "sqlite://" + (sqlite_directory() / (name + ".db")).string();
    store_ = db::Database::open(url);
    db::migrate(*store_, kMigrationComponent, migrations());
    options_.now = [this] { return now_; };
  }

  static http::Request post(std::string body, std::string_view key, std::string target = "/api/v1/bookings") {
    http::Request request;
    request.method = "POST";
    request.target = target;
    request.path = target;
    request.route = target;
    request.body = std::move(body);
    request.headers.add("Content-Type", "application/json");
    request.headers.add(std::string(kKeyHeader), std::string(key));
    return request;
  }

  // A handler that counts its runs and answers `status` with headers worth replaying and one that is not.
  std::function<http::Response()> counting_handler(int status = 201, std::string body = R"({"id":"b1"})") {
    return [this, status, body] {
      ++handler_runs_;
      http::Response response = http::Response::text(body, "application/json", status);
      response.headers.add("Location", "/api/v1/bookings/b1");
      response.headers.add("ETag", "\"v1\"");
      response.headers.add("X-Request-Id", "first-request");
      return response;
    };
  }

  http::Response call(const http::Request& request, std::string_view scope = "user-1") {
    return with_idempotency(*store_, request, scope, counting_handler(), options_);
  }

  long long count_rows(const std::string& where = "1 = 1") {
    return store_->with_session([&](soci::session& sql) {
      long long rows = 0;
      sql << "SELECT COUNT(*) FROM idempotency_keys WHERE " + where, soci::into(rows);
      return rows;
    });
  }

  // The problem that `action` throws; the test fails when it throws none.
  static errors::Problem problem_from(const std::function<void()>& action) {
    try {
      action();
    } catch (const errors::Problem& problem) {
      return problem;
    }
    ADD_FAILURE() << "expected an errors::Problem";
    return errors::Internal();
  }

  static void expect_key_field_error(const errors::Problem& problem) {
    EXPECT_EQ(problem.status(), 422);
    ASSERT_EQ(problem.field_errors().size(), 1u);
    EXPECT_EQ(problem.field_errors()[0].field, "Idempotency-Key");
  }

  std::unique_ptr<db::Database> store_;
  Clock::time_point now_ = Clock::time_point(seconds(1'700'000'000));
  IdempotencyOptions options_;
  int handler_runs_ = 0;
};

std::string dialect_name(const ::testing::TestParamInfo<db::Dialect>& info) {
  return std::string(db::to_string(info.param));
}

#ifdef INTERCAB_IDEMPOTENCY_TEST_POSTGRES
INSTANTIATE_TEST_SUITE_P(Backends, IdempotencyTest, ::testing::Values(db::Dialect::kPostgres), dialect_name);
#else
INSTANTIATE_TEST_SUITE_P(Backends, IdempotencyTest, ::testing::Values(db::Dialect::kSqlite), dialect_name);
#endif

TEST_P(IdempotencyTest, WithoutAKeyTheHandlerRunsEveryTimeAndNothingIsStored) {
  http::Request request = post("{}", "");
  request.headers.remove(kKeyHeader);
  call(request);
  const http::Response second = call(request);
  EXPECT_EQ(handler_runs_, 2);
  EXPECT_FALSE(second.headers.contains(kReplayedHeader));
  EXPECT_EQ(count_rows(), 0);
}

TEST_P(IdempotencyTest, FirstCallRunsTheHandlerAndStoresItsResponse) {
  const http::Response response = call(post(R"({"pickup":"A"})", "key-1"));
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, R"({"id":"b1"})");
  EXPECT_FALSE(response.headers.contains(kReplayedHeader));
  EXPECT_EQ(count_rows("scope = 'user-1' AND idempotency_key = 'key-1' AND state = 'done' AND status = 201"), 1);
  // Kept for the retention period from when the response was stored.
  const long long expected_expiry = 1'700'000'000 + 24 * 3600;
  EXPECT_EQ(count_rows("expires_at = " + std::to_string(expected_expiry)), 1);
}

TEST_P(IdempotencyTest, ReplayReturnsTheStoredResponseWithoutRunningTheHandler) {
  const http::Request request = post(R"({"pickup":"A"})", "key-1");
  call(request);
  now_ += hours(1);
  const http::Response replayed = call(request);
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_EQ(replayed.status, 201);
  EXPECT_EQ(replayed.body, R"({"id":"b1"})");
  EXPECT_EQ(replayed.headers.get("Content-Type"), "application/json");
  EXPECT_EQ(replayed.headers.get("Location"), "/api/v1/bookings/b1");
  EXPECT_EQ(replayed.headers.get("ETag"), "\"v1\"");
  EXPECT_EQ(replayed.headers.get(kReplayedHeader), "true");
  // Headers about the original request are not replayed: the server sets them for this one.
  EXPECT_FALSE(replayed.headers.contains("X-Request-Id"));
}

TEST_P(IdempotencyTest, SameKeyForADifferentRequestIsRejected) {
  call(post(R"({"pickup":"A"})", "key-1"));
  for (const http::Request& other :
       {post(R"({"pickup":"B"})", "key-1"), post(R"({"pickup":"A"})", "key-1", "/api/v1/payments")}) {
    const errors::Problem problem = problem_from([&] { call(other); });
    expect_key_field_error(problem);
    EXPECT_NE(problem.field_errors()[0].reason.find("different request"), std::string::npos);
  }
  EXPECT_EQ(handler_runs_, 1);
  // The key still replays its own request.
  EXPECT_EQ(call(post(R"({"pickup":"A"})", "key-1")).headers.get(kReplayedHeader), "true");
}

TEST_P(IdempotencyTest, ARequestStillInFlightGetsAConflict) {
  const http::Request request = post(R"({"pickup":"A"})", "key-1");
  std::optional<errors::Problem> nested_problem;
  const http::Response response = with_idempotency(
      *store_, request, "user-1",
      [&] {
        // The client retries while the first attempt is still being handled.
        nested_problem = problem_from([&] { call(request); });
        return http::Response::text("{}", "application/json", 201);
      },
      options_);
  ASSERT_TRUE(nested_problem.has_value());
  EXPECT_EQ(nested_problem->status(), 409);
  EXPECT_EQ(nested_problem->extensions().at("current_state").as_string(), "in_flight");
  EXPECT_EQ(handler_runs_, 0);
  EXPECT_EQ(response.status, 201);
  // Once the first attempt is done, the retry gets its response.
  EXPECT_EQ(call(request).headers.get(kReplayedHeader), "true");
  EXPECT_EQ(handler_runs_, 0);
}

TEST_P(IdempotencyTest, ConcurrentFirstUsesRunTheHandlerOnce) {
  constexpr int kThreads = 4;
  const http::Request request = post(R"({"pickup":"A"})", "raced-key");
  std::atomic<int> runs{0};
  std::atomic<int> conflicts{0};
  std::atomic<int> other_outcomes{0};
  std::atomic<bool> go{false};
  const auto handler = [&] {
    ++runs;
    // Stay in flight until every other thread has been answered, so each of them must have seen the claim.
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (conflicts + other_outcomes < kThreads - 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return http::Response::text("{}", "application/json", 201);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      while (!go) std::this_thread::yield();
      try {
        with_idempotency(*store_, request, "user-1", handler, options_);
      } catch (const errors::Conflict&) {
        ++conflicts;
      } catch (...) {
        ++other_outcomes;
      }
    });
  }
  go = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(conflicts, kThreads - 1);
  EXPECT_EQ(other_outcomes, 0);
  EXPECT_EQ(count_rows("state = 'done'"), 1);
}

TEST_P(IdempotencyTest, ServerErrorsAndTryAgainAnswersAreNotStored) {
  for (const int status : {500, 503, 408, 409, 425, 429}) {
    SCOPED_TRACE(status);
    handler_runs_ = 0;
    const http::Request request = post("{}", "key-" + std::to_string(status));
    const http::Response first = with_idempotency(*store_, request, "user-1", counting_handler(status), options_);
    EXPECT_EQ(first.status, status);
    EXPECT_EQ(count_rows(), 0);
    // The retry runs the handler again.
    const http::Response retry = with_idempotency(*store_, request, "user-1", counting_handler(201), options_);
    EXPECT_EQ(retry.status, 201);
    EXPECT_FALSE(retry.headers.contains(kReplayedHeader));
    EXPECT_EQ(handler_runs_, 2);
    EXPECT_EQ(purge_expired(*store_, now_ + hours(25)), 1u);
  }
}

TEST_P(IdempotencyTest, ClientErrorResponsesAreStoredLikeSuccesses) {
  const http::Request request = post("{}", "key-1");
  with_idempotency(*store_, request, "user-1", counting_handler(402, R"({"detail":"card declined"})"), options_);
  const http::Response replayed = with_idempotency(*store_, request, "user-1", counting_handler(201), options_);
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_EQ(replayed.status, 402);
  EXPECT_EQ(replayed.body, R"({"detail":"card declined"})");
  EXPECT_EQ(replayed.headers.get(kReplayedHeader), "true");
}

TEST_P(IdempotencyTest, AThrowingHandlerReleasesTheKey) {
  const http::Request request = post("{}", "key-1");
  EXPECT_THROW(
      with_idempotency(
          *store_, request, "user-1", []() -> http::Response { throw std::runtime_error("broken"); }, options_),
      std::runtime_error);
  EXPECT_EQ(count_rows(), 0);
  const errors::Problem problem = problem_from([&] {
    with_idempotency(
        *store_, request, "user-1",
        []() -> http::Response { throw errors::Invalid("pickup", "must be inside a service area"); }, options_);
  });
  EXPECT_EQ(problem.status(), 422);
  EXPECT_EQ(problem.field_errors()[0].field, "pickup");
  EXPECT_EQ(count_rows(), 0);
  // The retry runs and is stored.
  EXPECT_EQ(call(request).status, 201);
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_EQ(count_rows("state = 'done'"), 1);
}

TEST_P(IdempotencyTest, KeysBelongToTheirScope) {
  const http::Response first = with_idempotency(*store_, post(R"({"a":1})", "shared-key"), "user-1",
                                                counting_handler(201, "for user 1"), options_);
  // Another caller with the same key and even another body is a new request, not a replay or a mismatch.
  const http::Response second = with_idempotency(*store_, post(R"({"a":2})", "shared-key"), "user-2",
                                                 counting_handler(201, "for user 2"), options_);
  EXPECT_EQ(handler_runs_, 2);
  EXPECT_EQ(second.body, "for user 2");
  EXPECT_FALSE(second.headers.contains(kReplayedHeader));
  EXPECT_EQ(with_idempotency(*store_, post(R"({"a":1})", "shared-key"), "user-1", counting_handler(), options_).body,
            "for user 1");
  EXPECT_EQ(with_idempotency(*store_, post(R"({"a":2})", "shared-key"), "user-2", counting_handler(), options_).body,
            "for user 2");
  EXPECT_EQ(handler_runs_, 2);
  EXPECT_EQ(count_rows(), 2);
}

TEST_P(IdempotencyTest, ExpiredRecordsAreTreatedAsAbsent) {
  const http::Request request = post(R"({"pickup":"A"})", "key-1");
  call(request);
  now_ += hours(24) - seconds(1);
  EXPECT_EQ(call(request).headers.get(kReplayedHeader), "true");
  now_ += seconds(1);
  // Expired: the same request runs again, and so may a different one with the key.
  EXPECT_FALSE(call(request).headers.contains(kReplayedHeader));
  EXPECT_EQ(handler_runs_, 2);
  now_ += hours(25);
  EXPECT_FALSE(call(post(R"({"pickup":"B"})", "key-1")).headers.contains(kReplayedHeader));
  EXPECT_EQ(handler_runs_, 3);
  EXPECT_EQ(count_rows(), 1);
}

TEST_P(IdempotencyTest, AnAbandonedClaimIsTakenOverBySameRequestOnly) {
  // A process claimed the key and crashed before answering.
  const http::Request request = post(R"({"pickup":"A"})", "key-1");
  const std::string hash = request_hash(request);
  const long long claimed_at = 1'700'000'000;
  const long long expires_at = claimed_at + 24 * 3600;
  store_->transact([&](db::Tx& tx) {
    tx.sql() << "INSERT INTO idempotency_keys (scope, idempotency_key, request_hash, state, owner, created_at, "
                "expires_at) VALUES ('user-1', 'key-1', :hash, 'in_flight', 'crashed', :claimed_at, :expires_at)",
        soci::use(hash), soci::use(claimed_at), soci::use(expires_at);
  });
  now_ += seconds(60);
  EXPECT_EQ(problem_from([&] { call(request); }).status(), 409);
  now_ += seconds(1);
  expect_key_field_error(problem_from([&] { call(post(R"({"pickup":"B"})", "key-1")); }));
  EXPECT_EQ(handler_runs_, 0);
  EXPECT_EQ(call(request).status, 201);
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_EQ(count_rows("state = 'done' AND owner <> 'crashed'"), 1);
}

TEST_P(IdempotencyTest, AClaimTakenOverCannotBeCompletedByItsFormerOwner) {
  const http::Request request = post(R"({"pickup":"A"})", "key-1");
  const http::Response slow = with_idempotency(
      *store_, request, "user-1",
      [&] {
        // This attempt outlives in_flight_timeout; a retry takes the key over and completes it first.
        now_ += options_.in_flight_timeout + seconds(1);
        EXPECT_EQ(call(request).body, R"({"id":"b1"})");
        return http::Response::text("slow answer", "text/plain", 201);
      },
      options_);
  EXPECT_EQ(slow.body, "slow answer");
  EXPECT_EQ(handler_runs_, 1);
  // The record is the retry's; the slow attempt's late write did not replace it.
  const http::Response replayed = call(request);
  EXPECT_EQ(replayed.body, R"({"id":"b1"})");
  EXPECT_EQ(replayed.headers.get(kReplayedHeader), "true");
}

TEST_P(IdempotencyTest, MalformedKeysAreRejectedBeforeTheHandlerRuns) {
  EXPECT_EQ(call(post("{}", std::string(255, 'k'))).status, 201);
  for (const std::string& key : {std::string(256, 'k'), std::string(), std::string("abc\x01"), std::string("a\tb"),
                                 std::string("caf\xc3\xa9")}) {
    SCOPED_TRACE(key);
    expect_key_field_error(problem_from([&] { call(post("{}", key)); }));
  }
  http::Request twice = post("{}", "key-1");
  twice.headers.add(std::string(kKeyHeader), "key-2");
  expect_key_field_error(problem_from([&] { call(twice); }));
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_EQ(count_rows(), 1);
}

TEST_P(IdempotencyTest, AScopeIsRequired) {
  EXPECT_THROW(call(post("{}", "key-1"), ""), std::invalid_argument);
  EXPECT_EQ(handler_runs_, 0);
}

TEST_P(IdempotencyTest, PurgeDeletesOnlyExpiredRecords) {
  call(post("{}", "old"));
  now_ += hours(12);
  call(post("{}", "newer"));
  const Clock::time_point first_expiry = Clock::time_point(seconds(1'700'000'000)) + hours(24);
  EXPECT_EQ(purge_expired(*store_, first_expiry - seconds(1)), 0u);
  EXPECT_EQ(purge_expired(*store_, first_expiry), 1u);
  EXPECT_EQ(count_rows("idempotency_key = 'newer'"), 1);
  EXPECT_EQ(count_rows(), 1);
  EXPECT_EQ(purge_expired(*store_, first_expiry + hours(12)), 1u);
  EXPECT_EQ(count_rows(), 0);
}

TEST(IdempotencyRules, WhichResponsesAreStored) {
  for (const int status : {200, 201, 202, 204, 400, 402, 403, 404, 410, 422}) EXPECT_TRUE(should_store(status));
  for (const int status : {100, 301, 304, 408, 409, 425, 429, 500, 502, 503, 504}) EXPECT_FALSE(should_store(status));
}

TEST(IdempotencyRules, TheRequestHashCoversMethodTargetAndBody) {
  http::Request request;
  request.method = "POST";
  request.target = "/api/v1/bookings?fare=q1";
  request.body = "{}";
  const std::string hash = request_hash(request);
  EXPECT_EQ(hash.size(), 64u);
  http::Request other = request;
  other.method = "PUT";
  EXPECT_NE(request_hash(other), hash);
  other = request;
  other.target = "/api/v1/bookings?fare=q2";
  EXPECT_NE(request_hash(other), hash);
  other = request;
  other.body = "{ }";
  EXPECT_NE(request_hash(other), hash);
  other = request;
  other.headers.add("X-Request-Id", "another");
  EXPECT_EQ(request_hash(other), hash);
}

}  // namespace
}  // namespace intercab::idempotency
