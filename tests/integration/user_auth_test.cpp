// The user service through the gateway, as a client uses it: register -> verify -> login -> refresh
// -> reuse detection -> logout; password reset; lockout; BOLA and mass assignment; roles set by the
// first admin (`intercab user create-admin`); API keys at the gateway; deactivation. Verification
// codes and reset tokens are read from the user.events log (the outbox), the way the notification
// service receives them. Runs on SQLite + memory cache and on PostgreSQL + Redis.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "oidc_provider.hpp"
#include "platform/db/db.hpp"
#include "postgres_server.hpp"
#include "process.hpp"
#include "raw_http.hpp"
#include "redis_server.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;
using boost::json::object;
using ::testing::HasSubstr;

enum class Backend { sqlite_memory, postgres_redis };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::sqlite_memory ? "SqliteMemory" : "PostgresRedis";
}

constexpr const char* kPassword = "monsoon-ghats-1987";

struct Reply {
  int status = 0;
  object body;
  testing::RawResponse raw;
};

class UserAuth : public ::testing::TestWithParam<Backend> {
 protected:
  // Runs before the service starts: a subclass may write $INTERCAB_HOME/config/intercab.yaml.
  virtual void prepare_home() {}

  void SetUp() override {
    prepare_home();
    if (GetParam() == Backend::postgres_redis) {
      redis_ = std::make_unique<testing::RedisServer>();
      database_name_ = "intercab_ua" + std::to_string(::getpid()) + "_" + std::to_string(++instance_) + "_{service}";
    }
    const auto ports_file = home_.path() / "ports.json";
    process_ = std::make_unique<testing::ChildProcess>(
        testing::required_env("INTERCAB_BINARY"),
        std::vector<std::string>{"serve", "--target=gateway,user", "--ports-file", ports_file.string()}, environment(),
        home_.path() / "serve.log");
    ASSERT_TRUE(testing::eventually([&] { return std::filesystem::exists(ports_file) || !process_->running(); }, 60s));
    ASSERT_TRUE(std::filesystem::exists(ports_file)) << process_->log();
    std::ifstream in(ports_file);
    std::stringstream text;
    text << in.rdbuf();
    const auto ports = boost::json::parse(text.str()).as_object();
    gateway_ = static_cast<std::uint16_t>(ports.at("gateway").as_int64());
    user_port_ = static_cast<std::uint16_t>(ports.at("user").as_int64());
    events_ = db::Database::open(user_database_url());
  }

  testing::EnvOverrides environment() const {
    testing::EnvOverrides env{{"INTERCAB_HOME", home_.path().string()},
                              {"GATEWAY_PORT", "0"},
                              {"USER_PORT", "0"},
                              {"JWT_SECRET", "integration-test-secret-of-at-least-32-bytes"},
                              {"INTERNAL_JWT_SECRET", "integration-internal-secret-at-least-32-bytes"},
                              {"AUTH_PASSWORD_OPS_LIMIT", "1"},
                              {"AUTH_PASSWORD_MEM_KIB", "8"},
                              {"GATEWAY_RATE_LIMIT_PER_S", "10000"},
                              {"GATEWAY_RATE_LIMIT_BURST", "10000"}};
    if (GetParam() == Backend::postgres_redis) {
      env["DB_CONNECTION"] = testing::PostgresServer::shared().url(database_name_);
      env["REDIS_URL"] = redis_->url();
    }
    return env;
  }

  std::string user_database_url() const {
    if (GetParam() == Backend::sqlite_memory) return "sqlite://" + (home_.path() / "var" / "user.db").string();
    auto name = database_name_;
    name.replace(name.find("{service}"), 9, "user");
    return testing::PostgresServer::shared().url(name);
  }

  Reply call(const std::string& method, const std::string& target, const std::optional<object>& body = std::nullopt,
             const std::string& token = {}, std::map<std::string, std::string> headers = {}) const {
    if (body) headers["Content-Type"] = "application/json";
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto response = testing::request(gateway_, method, target, body ? boost::json::serialize(*body) : "", headers);
    EXPECT_TRUE(response) << method << " " << target << " got no answer";
    Reply reply;
    if (!response) return reply;
    reply.status = response->status;
    reply.raw = *response;
    if (!response->body.empty() && response->body.front() == '{')
      reply.body = boost::json::parse(response->body).as_object();
    return reply;
  }

  // The data of the newest event of `type` about `subject`, as the notification service gets it.
  std::optional<object> latest_event(const std::string& type, const std::string& subject) const {
    std::optional<object> found;
    events_->with_session([&](soci::session& sql) {
      std::string envelope;
      soci::statement statement = (sql.prepare << "SELECT envelope FROM event_outbox WHERE type = :type AND "
                                                  "subject = :subject ORDER BY seq",
                                   soci::into(envelope), soci::use(type), soci::use(subject));
      statement.execute();
      while (statement.fetch()) found = boost::json::parse(envelope).at("data").as_object();
    });
    return found;
  }

  std::string code_for(const std::string& user_id, const std::string& channel) const {
    std::string code;
    events_->with_session([&](soci::session& sql) {
      std::string envelope;
      soci::statement statement =
          (sql.prepare << "SELECT envelope FROM event_outbox WHERE type = 'user.verification_requested' AND "
                          "subject = :subject ORDER BY seq",
           soci::into(envelope), soci::use(user_id));
      statement.execute();
      while (statement.fetch()) {
        auto data = boost::json::parse(envelope).at("data").as_object();
        if (data.at("channel").as_string() == channel) code = std::string(data.at("code").as_string());
      }
    });
    return code;
  }

  // Registers and logs in; returns {user id, access token, refresh token}.
  struct Account {
    std::string id;
    std::string access;
    std::string refresh;
  };

  Account register_and_login(const std::string& email, const std::string& phone = {}) {
    object body{{"name", "Asha Rao"}, {"email", email}, {"password", kPassword}};
    if (!phone.empty()) body["phone"] = phone;
    auto registered = call("POST", "/api/v1/auth/register", body);
    EXPECT_EQ(registered.status, 201) << registered.raw.body;
    auto login = call("POST", "/api/v1/auth/login", object{{"email", email}, {"password", kPassword}});
    EXPECT_EQ(login.status, 200) << login.raw.body;
    return {std::string(registered.body.at("id").as_string()), std::string(login.body.at("access_token").as_string()),
            std::string(login.body.at("refresh_token").as_string())};
  }

  int run_cli(const std::string& arguments, std::string* output, const testing::EnvOverrides& extra = {}) const {
    std::string command;
    auto env = environment();
    for (const auto& [name, value] : extra) env[name] = value;
    for (const auto& [name, value] : env) command += name + "='" + value + "' ";
    command += testing::required_env("INTERCAB_BINARY") + " " + arguments;
    return testing::run_command(command, output);
  }

  static inline int instance_ = 0;
  testing::TempDir home_{"intercab-user-auth"};
  std::unique_ptr<testing::RedisServer> redis_;
  std::string database_name_;
  std::unique_ptr<testing::ChildProcess> process_;
  std::uint16_t gateway_ = 0;
  std::uint16_t user_port_ = 0;
  std::unique_ptr<db::Database> events_;
};

TEST_P(UserAuth, RegisterVerifyLoginRefreshReuseAndLogout) {
  auto registered = call(
      "POST", "/api/v1/auth/register",
      object{
          {"name", "Asha Rao"}, {"email", "Asha.Rao@Example.in"}, {"phone", "+919876543210"}, {"password", kPassword}});
  ASSERT_EQ(registered.status, 201) << registered.raw.body;
  const std::string id(registered.body.at("id").as_string());
  EXPECT_EQ(registered.raw.header("location"), "/api/v1/users/" + id);
  EXPECT_EQ(registered.body.at("verified"), false);
  EXPECT_EQ(registered.body.at("roles").as_array(), boost::json::array{"rider"});
  EXPECT_FALSE(registered.body.contains("password_hash"));
  EXPECT_THAT(registered.raw.body, ::testing::Not(HasSubstr("argon2")));
  ASSERT_TRUE(latest_event("user.registered", id));

  // The same email in another case is the same account.
  auto again = call("POST", "/api/v1/auth/register",
                    object{{"name", "X"}, {"email", "asha.rao@example.IN"}, {"password", kPassword}});
  EXPECT_EQ(again.status, 409) << again.raw.body;

  auto login = call("POST", "/api/v1/auth/login", object{{"email", "asha.rao@example.in"}, {"password", kPassword}});
  ASSERT_EQ(login.status, 200) << login.raw.body;
  EXPECT_EQ(login.body.at("token_type"), "Bearer");
  EXPECT_EQ(login.body.at("expires_in"), 900);
  const std::string access(login.body.at("access_token").as_string());
  const std::string refresh(login.body.at("refresh_token").as_string());

  auto me = call("GET", "/api/v1/users/me", std::nullopt, access);
  ASSERT_EQ(me.status, 200) << me.raw.body;
  EXPECT_EQ(me.body.at("email"), "Asha.Rao@Example.in");
  EXPECT_FALSE(me.raw.header("etag").empty());

  // Verification: a wrong code counts, the right one (from the event) verifies the phone.
  const auto code = code_for(id, "phone");
  ASSERT_EQ(code.size(), 6U);
  const std::string wrong = code == "000000" ? "000001" : "000000";
  auto wrong_try = call("POST", "/api/v1/auth/verify", object{{"channel", "phone"}, {"code", wrong}}, access);
  EXPECT_EQ(wrong_try.status, 422) << wrong_try.raw.body;
  EXPECT_THAT(wrong_try.raw.body, ::testing::Not(HasSubstr(code)));
  auto verified = call("POST", "/api/v1/auth/verify", object{{"channel", "phone"}, {"code", code}}, access);
  ASSERT_EQ(verified.status, 200) << verified.raw.body;
  EXPECT_EQ(verified.body.at("phone_verified"), true);
  EXPECT_EQ(verified.body.at("verified"), true);
  EXPECT_TRUE(latest_event("user.verified", id));
  auto reused_code = call("POST", "/api/v1/auth/verify", object{{"channel", "phone"}, {"code", code}}, access);
  EXPECT_EQ(reused_code.status, 422);

  // Refresh rotates: the new pair works, the old refresh token is now spent.
  auto rotated = call("POST", "/api/v1/auth/refresh", object{{"refresh_token", refresh}});
  ASSERT_EQ(rotated.status, 200) << rotated.raw.body;
  const std::string refresh2(rotated.body.at("refresh_token").as_string());
  EXPECT_NE(refresh2, refresh);
  const std::string access2(rotated.body.at("access_token").as_string());
  EXPECT_EQ(call("GET", "/api/v1/users/me", std::nullopt, access2).status, 200);

  // Reuse of the rotated token ends the whole family: refresh2 no longer works either.
  auto reuse = call("POST", "/api/v1/auth/refresh", object{{"refresh_token", refresh}});
  EXPECT_EQ(reuse.status, 401);
  EXPECT_THAT(reuse.raw.body, HasSubstr("already used"));
  EXPECT_EQ(call("POST", "/api/v1/auth/refresh", object{{"refresh_token", refresh2}}).status, 401);

  // A fresh login is a new session; logout ends it.
  auto second = call("POST", "/api/v1/auth/login", object{{"phone", "+919876543210"}, {"password", kPassword}});
  ASSERT_EQ(second.status, 200) << second.raw.body;
  const std::string refresh3(second.body.at("refresh_token").as_string());
  auto sessions = call("GET", "/api/v1/users/me/sessions", std::nullopt, access2);
  ASSERT_EQ(sessions.status, 200) << sessions.raw.body;
  EXPECT_EQ(sessions.body.at("items").as_array().size(), 1U);  // the reused family is gone
  EXPECT_EQ(call("POST", "/api/v1/auth/logout", object{{"refresh_token", refresh3}}).status, 204);
  EXPECT_EQ(call("POST", "/api/v1/auth/refresh", object{{"refresh_token", refresh3}}).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/users/me/sessions", std::nullopt, access2).body.at("items").as_array().size(), 0U);
}

TEST_P(UserAuth, RegistrationWithAnIdempotencyKeyIsReplayedNotRepeated) {
  const object body{{"name", "Once"}, {"email", "once@example.in"}, {"password", kPassword}};
  auto first = call("POST", "/api/v1/auth/register", body, "", {{"Idempotency-Key", "reg-1"}});
  ASSERT_EQ(first.status, 201) << first.raw.body;
  auto retry = call("POST", "/api/v1/auth/register", body, "", {{"Idempotency-Key", "reg-1"}});
  EXPECT_EQ(retry.status, 201) << retry.raw.body;
  EXPECT_EQ(retry.raw.header("idempotent-replayed"), "true");
  EXPECT_EQ(retry.body.at("id"), first.body.at("id"));
  auto other = call("POST", "/api/v1/auth/register",
                    object{{"name", "Twice"}, {"email", "twice@example.in"}, {"password", kPassword}}, "",
                    {{"Idempotency-Key", "reg-1"}});
  EXPECT_EQ(other.status, 422) << other.raw.body;
  // Without the key a repeat is what it is: the account exists.
  EXPECT_EQ(call("POST", "/api/v1/auth/register", body).status, 409);
}

TEST_P(UserAuth, SessionsAreListedInPagesNewestFirst) {
  auto asha = register_and_login("pages@example.in");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(call("POST", "/api/v1/auth/login", object{{"email", "pages@example.in"}, {"password", kPassword}}).status,
              200);
  }
  auto first = call("GET", "/api/v1/users/me/sessions?limit=2", std::nullopt, asha.access);
  ASSERT_EQ(first.status, 200) << first.raw.body;
  ASSERT_EQ(first.body.at("items").as_array().size(), 2U);
  ASSERT_TRUE(first.body.at("next_cursor").is_string());
  auto second = call("GET", "/api/v1/users/me/sessions?limit=2&cursor=" +
                                std::string(first.body.at("next_cursor").as_string()),
                     std::nullopt, asha.access);
  ASSERT_EQ(second.status, 200) << second.raw.body;
  EXPECT_EQ(second.body.at("items").as_array().size(), 1U);
  EXPECT_TRUE(second.body.at("next_cursor").is_null());
  EXPECT_NE(second.body.at("items").at(0).at("id"), first.body.at("items").at(0).at("id"));
  EXPECT_EQ(call("GET", "/api/v1/users/me/sessions?cursor=bogus", std::nullopt, asha.access).status, 422);
  EXPECT_EQ(call("GET", "/api/v1/users/me/sessions?limit=500", std::nullopt, asha.access).status, 422);
}

TEST_P(UserAuth, LoginFailuresLookTheSameAndLockTheAccount) {
  register_and_login("lock@example.in");
  auto unknown = call("POST", "/api/v1/auth/login", object{{"email", "nobody@example.in"}, {"password", kPassword}});
  auto wrong = call("POST", "/api/v1/auth/login", object{{"email", "lock@example.in"}, {"password", "not-the-one-1"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.body.at("detail"), wrong.body.at("detail"));
  for (int i = 0; i < 4; ++i) {
    call("POST", "/api/v1/auth/login", object{{"email", "lock@example.in"}, {"password", "not-the-one-1"}});
  }
  auto locked = call("POST", "/api/v1/auth/login", object{{"email", "LOCK@example.in"}, {"password", kPassword}});
  EXPECT_EQ(locked.status, 429) << locked.raw.body;
  EXPECT_EQ(locked.raw.header("retry-after"), "900");
}

TEST_P(UserAuth, InputErrorsAreProblemsNamingTheField) {
  auto malformed = testing::request(gateway_, "POST", "/api/v1/auth/register",
                                    "{\"name\": ", {{"Content-Type", "application/json"}});
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  EXPECT_EQ(malformed->header("content-type"), "application/problem+json");
  auto weak = call("POST", "/api/v1/auth/register",
                   object{{"name", "A"}, {"email", "weak@example.in"}, {"password", "password123"}});
  EXPECT_EQ(weak.status, 422);
  EXPECT_EQ(weak.body.at("errors").as_array().at(0).at("field"), "password");
  auto same_as_email =
      call("POST", "/api/v1/auth/register",
           object{{"name", "A"}, {"email", "same.as.me@example.in"}, {"password", "same.as.me@example.in"}});
  EXPECT_EQ(same_as_email.status, 422);
  auto bad_phone =
      call("POST", "/api/v1/auth/register", object{{"name", "A"}, {"phone", "+15551234567"}, {"password", kPassword}});
  EXPECT_EQ(bad_phone.status, 422);
  EXPECT_EQ(bad_phone.body.at("errors").as_array().at(0).at("field"), "phone");
  auto no_contact = call("POST", "/api/v1/auth/register", object{{"name", "A"}, {"password", kPassword}});
  EXPECT_EQ(no_contact.status, 422);
  auto both = call("POST", "/api/v1/auth/login",
                   object{{"email", "a@example.in"}, {"phone", "+919876543210"}, {"password", kPassword}});
  EXPECT_EQ(both.status, 422);
  auto no_token = call("GET", "/api/v1/users/me");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_FALSE(no_token.raw.header("www-authenticate").empty());
}

TEST_P(UserAuth, UsersCannotReadOrChangeEachOther) {
  auto asha = register_and_login("asha@example.in");
  auto ravi = register_and_login("ravi@example.in");
  EXPECT_EQ(call("GET", "/api/v1/users/" + asha.id, std::nullopt, asha.access).status, 200);
  auto other = call("GET", "/api/v1/users/" + asha.id, std::nullopt, ravi.access);
  auto missing = call("GET", "/api/v1/users/0190f5a4-7c1e-7d2a-9b3c-1234567890ab", std::nullopt, ravi.access);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(other.body.at("detail"), missing.body.at("detail"));  // no existence leak

  // Sessions of someone else cannot be revoked, nor told apart from missing ones.
  auto asha_sessions = call("GET", "/api/v1/users/me/sessions", std::nullopt, asha.access);
  const std::string session_id(asha_sessions.body.at("items").as_array().at(0).at("id").as_string());
  EXPECT_EQ(call("DELETE", "/api/v1/users/me/sessions/" + session_id, std::nullopt, ravi.access).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/auth/refresh", object{{"refresh_token", asha.refresh}}).status, 200);

  // Mass assignment: roles and verification are not part of the profile.
  for (const auto& field : {"roles", "verified", "email_verified", "id", "status"}) {
    object patch{{field, field == std::string("roles") ? boost::json::value(boost::json::array{"admin"})
                                                       : boost::json::value(true)}};
    auto attempt = call("PATCH", "/api/v1/users/me", patch, ravi.access);
    EXPECT_EQ(attempt.status, 422) << field << ": " << attempt.raw.body;
  }
  EXPECT_EQ(call("GET", "/api/v1/users/me", std::nullopt, ravi.access).body.at("roles"), boost::json::array{"rider"});
  // Only admins grant roles.
  auto grant =
      call("PUT", "/api/v1/users/" + ravi.id + "/roles", object{{"roles", boost::json::array{"admin"}}}, ravi.access);
  EXPECT_EQ(grant.status, 403);
}

TEST_P(UserAuth, ProfileEditsUseETagsAndReverifyChangedContacts) {
  auto asha = register_and_login("profile@example.in");
  auto me = call("GET", "/api/v1/users/me", std::nullopt, asha.access);
  const auto etag = me.raw.header("etag");
  object patch{
      {"name", "Asha R."},
      {"preferred_language", "mr"},
      {"saved_places",
       boost::json::array{object{{"label", "Home"}, {"address", "Kothrud, Pune"}, {"lat", 18.5074}, {"lng", 73.8077}}}},
      {"emergency_contacts", boost::json::array{object{{"name", "Ravi"}, {"phone", "+919812345678"}}}}};
  auto patched = call("PATCH", "/api/v1/users/me", patch, asha.access, {{"If-Match", etag}});
  ASSERT_EQ(patched.status, 200) << patched.raw.body;
  EXPECT_EQ(patched.body.at("name"), "Asha R.");
  EXPECT_EQ(patched.body.at("saved_places").as_array().size(), 1U);
  EXPECT_NE(patched.raw.header("etag"), etag);
  auto stale = call("PATCH", "/api/v1/users/me", object{{"name", "Other"}}, asha.access, {{"If-Match", etag}});
  EXPECT_EQ(stale.status, 412);

  auto duplicate_labels = call(
      "PATCH", "/api/v1/users/me",
      object{{"saved_places", boost::json::array{object{{"label", "Home"}, {"address", "a"}, {"lat", 1}, {"lng", 1}},
                                                 object{{"label", "home"}, {"address", "b"}, {"lat", 2}, {"lng", 2}}}}},
      asha.access);
  EXPECT_EQ(duplicate_labels.status, 422);

  auto moved = call("PATCH", "/api/v1/users/me", object{{"email", "new.profile@example.in"}}, asha.access);
  ASSERT_EQ(moved.status, 200) << moved.raw.body;
  EXPECT_EQ(moved.body.at("email_verified"), false);
  auto event = latest_event("user.verification_requested", asha.id);
  ASSERT_TRUE(event);
  EXPECT_EQ(event->at("destination"), "new.profile@example.in");
  auto removed_all = call("PATCH", "/api/v1/users/me", object{{"email", nullptr}}, asha.access);
  EXPECT_EQ(removed_all.status, 422);  // the only contact cannot go
}

TEST_P(UserAuth, PasswordResetIsSingleUseAndEndsEverySession) {
  auto asha = register_and_login("reset@example.in");
  EXPECT_EQ(call("POST", "/api/v1/auth/password/forgot", object{{"email", "nobody@example.in"}}).status, 202);
  EXPECT_EQ(call("POST", "/api/v1/auth/password/forgot", object{{"email", "reset@example.in"}}).status, 202);
  auto event = latest_event("user.password_reset_requested", asha.id);
  ASSERT_TRUE(event);
  const std::string token(event->at("token").as_string());
  auto weak = call("POST", "/api/v1/auth/password/reset", object{{"token", token}, {"new_password", "short"}});
  EXPECT_EQ(weak.status, 422);
  EXPECT_EQ(weak.body.at("errors").as_array().at(0).at("field"), "new_password");
  const std::string new_password = "konkan-railway-2024";
  EXPECT_EQ(
      call("POST", "/api/v1/auth/password/reset", object{{"token", token}, {"new_password", new_password}}).status,
      204);
  EXPECT_EQ(
      call("POST", "/api/v1/auth/password/reset", object{{"token", token}, {"new_password", new_password}}).status,
      422);
  EXPECT_EQ(call("POST", "/api/v1/auth/refresh", object{{"refresh_token", asha.refresh}}).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/auth/login", object{{"email", "reset@example.in"}, {"password", kPassword}}).status,
            401);
  EXPECT_EQ(
      call("POST", "/api/v1/auth/login", object{{"email", "reset@example.in"}, {"password", new_password}}).status,
      200);
}

TEST_P(UserAuth, FirstAdminGrantsRolesAndIssuesApiKeys) {
  std::string output;
  const auto weak =
      run_cli("user create-admin --email ops@example.in", &output, {{"INTERCAB_ADMIN_PASSWORD", "password"}});
  EXPECT_EQ(weak, 2) << output;
  EXPECT_THAT(output, HasSubstr("password"));
  const auto status = run_cli("user create-admin --name 'Ops Admin' --email ops@example.in", &output,
                              {{"INTERCAB_ADMIN_PASSWORD", "deccan-plateau-2026"}});
  ASSERT_EQ(status, 0) << output;
  EXPECT_THAT(output, HasSubstr("created admin"));
  auto admin =
      call("POST", "/api/v1/auth/login", object{{"email", "ops@example.in"}, {"password", "deccan-plateau-2026"}});
  ASSERT_EQ(admin.status, 200) << admin.raw.body;
  const std::string admin_token(admin.body.at("access_token").as_string());

  auto driver = register_and_login("driver@example.in");
  auto granted = call("PUT", "/api/v1/users/" + driver.id + "/roles",
                      object{{"roles", boost::json::array{"rider", "driver"}}}, admin_token);
  ASSERT_EQ(granted.status, 200) << granted.raw.body;
  EXPECT_EQ(granted.body.at("roles"), (boost::json::array{"driver", "rider"}));
  ASSERT_TRUE(latest_event("user.role_changed", driver.id));
  // The new role reaches the tokens at the next refresh.
  auto refreshed = call("POST", "/api/v1/auth/refresh", object{{"refresh_token", driver.refresh}});
  ASSERT_EQ(refreshed.status, 200);
  const std::string driver_token(refreshed.body.at("access_token").as_string());
  auto seen_by_support = call("GET", "/api/v1/users/" + driver.id, std::nullopt, admin_token);
  EXPECT_EQ(seen_by_support.status, 200);

  // An API key for the driver, narrowed to the driver role, works at the gateway as X-API-Key.
  auto created =
      call("POST", "/api/v1/api-keys",
           object{{"name", "fleet sync"}, {"owner_user_id", driver.id}, {"roles", boost::json::array{"driver"}}},
           admin_token);
  ASSERT_EQ(created.status, 201) << created.raw.body;
  const std::string key(created.body.at("api_key").as_string());
  const std::string key_id(created.body.at("id").as_string());
  EXPECT_EQ(
      call("POST", "/api/v1/api-keys",
           object{{"name", "x"}, {"owner_user_id", driver.id}, {"roles", boost::json::array{"admin"}}}, admin_token)
          .status,
      422);
  EXPECT_EQ(call("GET", "/api/v1/api-keys", std::nullopt, driver_token).status, 403);
  auto listed = call("GET", "/api/v1/api-keys", std::nullopt, admin_token);
  ASSERT_EQ(listed.status, 200);
  EXPECT_THAT(listed.raw.body, ::testing::Not(HasSubstr(key)));

  auto with_key = call("GET", "/api/v1/users/me", std::nullopt, "", {{"X-API-Key", key}});
  ASSERT_EQ(with_key.status, 200) << with_key.raw.body;
  EXPECT_EQ(with_key.body.at("id").as_string(), driver.id);
  EXPECT_EQ(call("GET", "/api/v1/users/me", std::nullopt, "", {{"X-API-Key", key + "x"}}).status, 401);

  EXPECT_EQ(call("DELETE", "/api/v1/api-keys/" + key_id, std::nullopt, admin_token).status, 204);
  EXPECT_EQ(call("DELETE", "/api/v1/api-keys/" + key_id, std::nullopt, admin_token).status, 404);
}

TEST_P(UserAuth, DeactivationErasesPersonalDataAndEndsAccess) {
  auto asha = register_and_login("leaving@example.in", "+919811111111");
  EXPECT_EQ(call("DELETE", "/api/v1/users/me", std::nullopt, asha.access).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/users/me", std::nullopt, asha.access).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/auth/refresh", object{{"refresh_token", asha.refresh}}).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/auth/login", object{{"email", "leaving@example.in"}, {"password", kPassword}}).status,
            401);
  ASSERT_TRUE(latest_event("user.deactivated", asha.id));
  // The email is free again for a new account.
  EXPECT_EQ(call("POST", "/api/v1/auth/register",
                 object{{"name", "New"}, {"email", "leaving@example.in"}, {"password", kPassword}})
                .status,
            201);
}

TEST_P(UserAuth, PublishesItsKeysAndCapabilities) {
  auto jwks = call("GET", "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  EXPECT_TRUE(jwks.body.at("keys").is_array());
  auto version = testing::request(user_port_, "GET", "/version");
  ASSERT_TRUE(version);
  EXPECT_THAT(version->body, HasSubstr("auth.password"));
  EXPECT_THAT(version->body, HasSubstr("auth.refresh_rotation"));
  // Internal endpoints take service tokens only: a user token is refused.
  auto asha = register_and_login("internal@example.in");
  auto internal = testing::request(user_port_, "GET", "/internal/v1/users/" + asha.id, "",
                                   {{"Authorization", "Bearer " + asha.access}});
  ASSERT_TRUE(internal);
  EXPECT_EQ(internal->status, 401);
}

// "Continue with ..." against a real OpenID Provider (npm oidc-provider): start -> the provider's
// login and consent -> callback -> our token pair; the identity is linked to the account with the
// same verified email; a callback without the starting browser's cookie, or replayed, is refused.
class UserOAuth : public UserAuth {
 protected:
  void prepare_home() override {
    provider_ = std::make_unique<testing::OidcProvider>(
        testing::OidcTestClient{"intercab-test-client", "fixture-client-secret", kRedirectUri});
    std::filesystem::create_directories(home_.path() / "config");
    std::ofstream config(home_.path() / "config" / "intercab.yaml");
    config << "auth:\n  oauth:\n    providers:\n      fixture:\n        issuer: " << provider_->issuer()
           << "\n        client_id: intercab-test-client\n        client_secret: fixture-client-secret\n"
           << "        redirect_uri: " << kRedirectUri << "\n";
  }

  static constexpr const char* kRedirectUri = "http://127.0.0.1:9/api/v1/auth/oauth/fixture/callback";
  std::unique_ptr<testing::OidcProvider> provider_;
};

TEST_P(UserOAuth, LoginWithTheProviderLinksTheVerifiedEmailAndIssuesTokens) {
  // An account registered with the provider's email, not yet verified here.
  auto existing = register_and_login(provider_->account().email);
  auto providers = call("GET", "/api/v1/auth/oauth/providers");
  ASSERT_EQ(providers.status, 200);
  EXPECT_EQ(providers.body.at("items"), boost::json::array{"fixture"});

  auto start = call("GET", "/api/v1/auth/oauth/fixture/start");
  ASSERT_EQ(start.status, 302) << start.raw.body;
  const auto location = start.raw.header("location");
  ASSERT_EQ(location.rfind(provider_->issuer(), 0), 0U) << location;
  EXPECT_THAT(location, HasSubstr("code_challenge_method=S256"));
  EXPECT_THAT(location, HasSubstr("nonce="));
  const auto set_cookie = start.raw.header("set-cookie");
  ASSERT_THAT(set_cookie, HasSubstr("intercab_oauth="));
  EXPECT_THAT(set_cookie, HasSubstr("HttpOnly"));
  const auto cookie = set_cookie.substr(0, set_cookie.find(';'));

  const auto redirect = testing::follow_authorization(*provider_, location, kRedirectUri);
  const auto callback =
      "/api/v1/auth/oauth/fixture/callback?code=" + redirect.param("code") + "&state=" + redirect.param("state");
  // Another browser (no cookie) cannot finish this login.
  auto stolen = call("GET", callback);
  EXPECT_EQ(stolen.status, 401) << stolen.raw.body;

  // The state is single use, so the same login is started again for the real browser.
  auto again = call("GET", "/api/v1/auth/oauth/fixture/start");
  ASSERT_EQ(again.status, 302);
  const auto cookie2 = again.raw.header("set-cookie").substr(0, again.raw.header("set-cookie").find(';'));
  const auto redirect2 = testing::follow_authorization(*provider_, again.raw.header("location"), kRedirectUri);
  const auto callback2 =
      "/api/v1/auth/oauth/fixture/callback?code=" + redirect2.param("code") + "&state=" + redirect2.param("state");
  auto tokens = call("GET", callback2, std::nullopt, "", {{"Cookie", cookie2}});
  ASSERT_EQ(tokens.status, 200) << tokens.raw.body;
  EXPECT_EQ(tokens.body.at("token_type"), "Bearer");
  const std::string access(tokens.body.at("access_token").as_string());
  auto me = call("GET", "/api/v1/users/me", std::nullopt, access);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.body.at("id").as_string(), existing.id);  // linked by the verified email
  EXPECT_EQ(me.body.at("email_verified"), true);         // the provider proved the address

  // Replaying the callback fails: the state was used up.
  EXPECT_EQ(call("GET", callback2, std::nullopt, "", {{"Cookie", cookie2}}).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/auth/oauth/nobody/start").status, 404);
}

INSTANTIATE_TEST_SUITE_P(Backends, UserOAuth, ::testing::Values(Backend::sqlite_memory, Backend::postgres_redis),
                         backend_name);

INSTANTIATE_TEST_SUITE_P(Backends, UserAuth, ::testing::Values(Backend::sqlite_memory, Backend::postgres_redis),
                         backend_name);

}  // namespace
}  // namespace intercab
