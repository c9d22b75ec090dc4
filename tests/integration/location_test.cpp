// The location service through the gateway, as riders, drivers and support use it: city
// autocomplete and geocoding, routes with state crossings, the distance matrix, live positions
// (ingest, authorisation, nearby, state-crossing events) and the SSE stream of a driver. Runs on
// SQLite + memory cache and on PostgreSQL + Redis (where positions live in Redis GEO).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "platform/db/db.hpp"
#include "platform/text/text.hpp"
#include "postgres_server.hpp"
#include "process.hpp"
#include "raw_http.hpp"
#include "redis_server.hpp"

namespace intercab {
namespace {

using namespace std::chrono_literals;
using boost::json::array;
using boost::json::object;
using ::testing::HasSubstr;

enum class Backend { sqlite_memory, postgres_redis };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::sqlite_memory ? "SqliteMemory" : "PostgresRedis";
}

constexpr std::int64_t kMumbai = 1275339;
constexpr std::int64_t kDelhi = 1273294;
constexpr std::int64_t kBengaluru = 1277333;
constexpr const char* kJwtSecret = "integration-test-secret-of-at-least-32-bytes";

struct Reply {
  int status = 0;
  object body;
  testing::RawResponse raw;
};

std::string iso_time(std::chrono::system_clock::time_point time) { return text::format_rfc3339_utc(time); }

class Location : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::postgres_redis) {
      redis_ = std::make_unique<testing::RedisServer>();
      database_name_ = "intercab_loc" + std::to_string(::getpid()) + "_" + std::to_string(++instance_) + "_{service}";
    }
    const auto ports_file = home_.path() / "ports.json";
    process_ = std::make_unique<testing::ChildProcess>(
        testing::required_env("INTERCAB_BINARY"),
        std::vector<std::string>{"serve", "--target=gateway,location", "--ports-file", ports_file.string()},
        environment(), home_.path() / "serve.log");
    ASSERT_TRUE(testing::eventually([&] { return std::filesystem::exists(ports_file) || !process_->running(); }, 90s));
    ASSERT_TRUE(std::filesystem::exists(ports_file)) << process_->log();
    std::ifstream in(ports_file);
    std::stringstream text;
    text << in.rdbuf();
    const auto ports = boost::json::parse(text.str()).as_object();
    gateway_ = static_cast<std::uint16_t>(ports.at("gateway").as_int64());
    location_port_ = static_cast<std::uint16_t>(ports.at("location").as_int64());
    store_ = db::Database::open(location_database_url());
  }

  testing::EnvOverrides environment() const {
    testing::EnvOverrides env{{"INTERCAB_HOME", home_.path().string()},
                              {"GATEWAY_PORT", "0"},
                              {"LOCATION_PORT", "0"},
                              {"JWT_SECRET", kJwtSecret},
                              {"INTERNAL_JWT_SECRET", "integration-internal-secret-at-least-32-bytes"},
                              {"GATEWAY_RATE_LIMIT_PER_S", "10000"},
                              {"GATEWAY_RATE_LIMIT_BURST", "10000"}};
    if (GetParam() == Backend::postgres_redis) {
      env["DB_CONNECTION"] = testing::PostgresServer::shared().url(database_name_);
      env["REDIS_URL"] = redis_->url();
    }
    return env;
  }

  std::string location_database_url() const {
    if (GetParam() == Backend::sqlite_memory) return "sqlite://" + (home_.path() / "var" / "location.db").string();
    auto name = database_name_;
    name.replace(name.find("{service}"), 9, "location");
    return testing::PostgresServer::shared().url(name);
  }

  // An access token from `intercab token`, as the user service would issue it.
  std::string token(const std::string& subject, const std::string& roles) const {
    std::string output;
    const std::string command = "JWT_SECRET='" + std::string(kJwtSecret) + "' INTERCAB_HOME='" + home_.path().string() +
                                "' " + testing::required_env("INTERCAB_BINARY") + " token --subject " + subject +
                                " --roles " + roles;
    EXPECT_EQ(testing::run_command(command, &output), 0) << output;
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    return output;
  }

  Reply call(const std::string& method, const std::string& target, const std::optional<object>& body = std::nullopt,
             const std::string& bearer = {}) const {
    std::map<std::string, std::string> headers;
    if (body) headers["Content-Type"] = "application/json";
    if (!bearer.empty()) headers["Authorization"] = "Bearer " + bearer;
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

  static std::string first_name(const Reply& reply) {
    const auto& items = reply.body.at("items").as_array();
    return items.empty() ? std::string("<none>") : std::string(items[0].at("name").as_string());
  }

  static bool has_field_error(const Reply& reply, const std::string& field) {
    if (!reply.body.contains("errors")) return false;
    for (const auto& error : reply.body.at("errors").as_array()) {
      if (error.at("field").as_string() == field) return true;
    }
    return false;
  }

  object ping(double lat, double lon, std::chrono::system_clock::time_point at) const {
    return object{{"lat", lat},        {"lon", lon},        {"heading_deg", 90.0},
                  {"speed_kmh", 60.0}, {"accuracy_m", 8.0}, {"recorded_at", iso_time(at)}};
  }

  std::vector<object> state_events(const std::string& driver_id) const {
    std::vector<object> found;
    store_->with_session([&](soci::session& sql) {
      std::string envelope;
      soci::statement statement =
          (sql.prepare << "SELECT envelope FROM event_outbox WHERE type = 'driver.state_entered' AND "
                          "subject = :subject ORDER BY seq",
           soci::into(envelope), soci::use(driver_id));
      statement.execute();
      while (statement.fetch()) found.push_back(boost::json::parse(envelope).at("data").as_object());
    });
    return found;
  }

  static inline int instance_ = 0;
  testing::TempDir home_{"intercab-location"};
  std::unique_ptr<testing::RedisServer> redis_;
  std::string database_name_;
  std::unique_ptr<testing::ChildProcess> process_;
  std::uint16_t gateway_ = 0;
  std::uint16_t location_port_ = 0;
  std::unique_ptr<db::Database> store_;
};

TEST_P(Location, CitiesAutocompleteIsForgivingAndPaged) {
  EXPECT_EQ(first_name(call("GET", "/api/v1/cities?q=Bangalore")), "Bengaluru");
  EXPECT_EQ(first_name(call("GET", "/api/v1/cities?q=bombay")), "Mumbai");
  EXPECT_EQ(first_name(call("GET", "/api/v1/cities?q=Hyderbad")), "Hyderabad");
  EXPECT_EQ(first_name(call("GET", "/api/v1/cities?q=beng")), "Bengaluru");

  auto in_goa = call("GET", "/api/v1/cities?state=IN-GA&limit=100");
  ASSERT_EQ(in_goa.status, 200) << in_goa.raw.body;
  ASSERT_FALSE(in_goa.body.at("items").as_array().empty());
  for (const auto& city : in_goa.body.at("items").as_array()) EXPECT_EQ(city.at("state_code"), "IN-GA");
  auto by_name = call("GET", "/api/v1/cities?state=goa&limit=100");
  EXPECT_EQ(by_name.body.at("items"), in_goa.body.at("items"));

  // Pages: {items, next_cursor}; following the cursor continues without repeats.
  auto first = call("GET", "/api/v1/cities?state=Maharashtra&limit=5");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.body.at("items").as_array().size(), 5U);
  const std::string cursor(first.body.at("next_cursor").as_string());
  auto second = call("GET", "/api/v1/cities?state=Maharashtra&limit=5&cursor=" + cursor);
  ASSERT_EQ(second.status, 200);
  EXPECT_NE(second.body.at("items").as_array()[0].at("id"), first.body.at("items").as_array()[0].at("id"));
  EXPECT_EQ(first.body.at("items").as_array()[0].at("name"), "Mumbai");

  auto mumbai = call("GET", "/api/v1/cities/" + std::to_string(kMumbai));
  ASSERT_EQ(mumbai.status, 200);
  EXPECT_EQ(mumbai.body.at("id").as_int64(), kMumbai);
  EXPECT_EQ(mumbai.body.at("state_code"), "IN-MH");
  EXPECT_TRUE(mumbai.body.at("lat").is_double());
  EXPECT_EQ(call("GET", "/api/v1/cities/999999999").status, 404);
  EXPECT_EQ(call("GET", "/api/v1/cities/not-a-number").status, 404);

  auto bad_state = call("GET", "/api/v1/cities?state=Atlantis");
  EXPECT_EQ(bad_state.status, 422);
  EXPECT_TRUE(has_field_error(bad_state, "state")) << bad_state.raw.body;
  EXPECT_EQ(call("GET", "/api/v1/cities?cursor=garbage").status, 422);
  EXPECT_EQ(call("GET", "/api/v1/cities?limit=1000").status, 422);

  auto attribution = call("GET", "/api/v1/cities/attribution");
  ASSERT_EQ(attribution.status, 200);
  EXPECT_THAT(attribution.raw.body, HasSubstr("GeoNames"));
  EXPECT_THAT(attribution.raw.body, HasSubstr("CC BY 4.0"));
  EXPECT_THAT(attribution.raw.body, HasSubstr("Natural Earth"));
}

TEST_P(Location, GeocodesTextAndReverseGeocodesPoints) {
  auto pune = call("GET", "/api/v1/geocode?q=pune%20maharashtra");
  ASSERT_EQ(pune.status, 200) << pune.raw.body;
  const auto& best = pune.body.at("items").as_array().at(0).as_object();
  EXPECT_EQ(best.at("city").at("name"), "Pune");
  EXPECT_EQ(best.at("state_code"), "IN-MH");
  EXPECT_GT(best.at("confidence").as_double(), 0.5);
  EXPECT_EQ(call("GET", "/api/v1/geocode").status, 422);

  // Gurugram is in Haryana although Delhi is nearer than most Haryana cities.
  auto gurugram = call("GET", "/api/v1/geocode/reverse?lat=28.4595&lon=77.0266");
  ASSERT_EQ(gurugram.status, 200) << gurugram.raw.body;
  EXPECT_EQ(gurugram.body.at("state_code"), "IN-HR");
  ASSERT_TRUE(gurugram.body.contains("city"));
  // The city answered lies in the state answered, although Delhi's cities are as near.
  auto city = call("GET", "/api/v1/cities/" + std::to_string(gurugram.body.at("city").at("id").as_int64()));
  EXPECT_EQ(city.body.at("state_code"), "IN-HR");
  EXPECT_LT(gurugram.body.at("distance_km").as_double(), 30);
  auto panaji = call("GET", "/api/v1/geocode/reverse?lat=15.4909&lon=73.8278");
  EXPECT_EQ(panaji.body.at("state_code"), "IN-GA");
  // 100 km out in the Arabian Sea is nowhere we serve.
  auto sea = call("GET", "/api/v1/geocode/reverse?lat=18.9&lon=71.8");
  EXPECT_EQ(sea.status, 422) << sea.raw.body;
  EXPECT_EQ(sea.raw.header("content-type"), "application/problem+json");
  EXPECT_EQ(call("GET", "/api/v1/geocode/reverse?lat=91&lon=70").status, 422);
  EXPECT_EQ(call("GET", "/api/v1/geocode/reverse?lat=abc&lon=70").status, 422);
}

TEST_P(Location, RoutesExplainTheirKilometresByState) {
  // Pune (a point) to Panaji: leaves Maharashtra, ends in Goa; the km per state add up.
  auto route = call("POST", "/api/v1/routes",
                    object{{"stops", array{object{{"lat", 18.51957}, {"lon", 73.85535}},
                                           object{{"lat", 15.4909}, {"lon", 73.8278}}}}});
  ASSERT_EQ(route.status, 200) << route.raw.body;
  const double km = route.body.at("distance_km").as_double();
  EXPECT_GT(km, 380);
  EXPECT_LT(km, 560);
  EXPECT_GT(route.body.at("duration_min").as_double(), km / 90 * 60);
  const auto& states = route.body.at("states_crossed").as_array();
  ASSERT_GE(states.size(), 2U);
  EXPECT_EQ(states.front().at("code"), "IN-MH");
  EXPECT_EQ(states.back().at("code"), "IN-GA");
  double state_km = 0;
  for (const auto& state : states) state_km += state.at("km").as_double();
  EXPECT_NEAR(state_km, km, 0.011) << "the rounded km per state add up to the rounded total";
  EXPECT_FALSE(route.body.at("polyline").as_string().empty());
  EXPECT_EQ(route.body.at("method").at("path"), "astar");
  EXPECT_EQ(route.body.at("method").at("order"), "fixed");
  EXPECT_EQ(route.body.at("legs").as_array().size(), 1U);
  EXPECT_THAT(std::string(route.raw.header("cache-status")), HasSubstr("stored"));

  // The same query again comes from the route cache, byte for byte.
  auto again = call("POST", "/api/v1/routes",
                    object{{"stops", array{object{{"lat", 18.51957}, {"lon", 73.85535}},
                                           object{{"lat", 15.4909}, {"lon", 73.8278}}}}});
  EXPECT_THAT(std::string(again.raw.header("cache-status")), HasSubstr("hit"));
  EXPECT_EQ(again.raw.body, route.raw.body);

  // Delhi -> Jaipur -> Agra -> Delhi as a round trip: three legs back to the start.
  auto jaipur = call("GET", "/api/v1/cities?q=Jaipur&limit=1").body.at("items").as_array()[0].at("id").as_int64();
  auto agra = call("GET", "/api/v1/cities?q=Agra&limit=1").body.at("items").as_array()[0].at("id").as_int64();
  auto round =
      call("POST", "/api/v1/routes",
           object{{"stops", array{object{{"city_id", kDelhi}}, object{{"city_id", jaipur}}, object{{"city_id", agra}}}},
                  {"trip_type", "round_trip"}});
  ASSERT_EQ(round.status, 200) << round.raw.body;
  const auto& legs = round.body.at("legs").as_array();
  ASSERT_EQ(legs.size(), 3U);
  EXPECT_EQ(legs[2].at("to"), 0);
  double legs_km = 0;
  for (const auto& leg : legs) legs_km += leg.at("distance_km").as_double();
  EXPECT_NEAR(legs_km, round.body.at("distance_km").as_double(), 0.05);
  EXPECT_GT(legs_km, 650);
  EXPECT_LT(legs_km, 900);

  // Optimised: a zig-zag order Mumbai, Delhi, Pune, Jaipur, Bengaluru is reordered exactly.
  auto pune_id = call("GET", "/api/v1/cities?q=Pune&limit=1").body.at("items").as_array()[0].at("id").as_int64();
  auto zigzag =
      object{{"stops", array{object{{"city_id", kMumbai}}, object{{"city_id", kDelhi}}, object{{"city_id", pune_id}},
                             object{{"city_id", jaipur}}, object{{"city_id", kBengaluru}}}},
             {"optimize", true}};
  auto optimised = call("POST", "/api/v1/routes", zigzag);
  ASSERT_EQ(optimised.status, 200) << optimised.raw.body;
  EXPECT_EQ(optimised.body.at("method").at("order"), "held_karp");
  EXPECT_EQ(optimised.body.at("order").as_array().front(), 0);
  EXPECT_EQ(optimised.body.at("order").as_array().back(), 4);
  zigzag["optimize"] = false;
  auto fixed = call("POST", "/api/v1/routes", zigzag);
  EXPECT_LT(optimised.body.at("distance_km").as_double(), fixed.body.at("distance_km").as_double());
}

TEST_P(Location, RouteErrorsNameTheFieldAndWhatToChange) {
  auto one_stop = call("POST", "/api/v1/routes", object{{"stops", array{object{{"city_id", kDelhi}}}}});
  EXPECT_EQ(one_stop.status, 422);
  EXPECT_TRUE(has_field_error(one_stop, "stops")) << one_stop.raw.body;
  auto unknown =
      call("POST", "/api/v1/routes", object{{"stops", array{object{{"city_id", kDelhi}}, object{{"city_id", 42}}}}});
  EXPECT_EQ(unknown.status, 422);
  EXPECT_TRUE(has_field_error(unknown, "stops[1].city_id")) << unknown.raw.body;
  auto both = call(
      "POST", "/api/v1/routes",
      object{{"stops", array{object{{"city_id", kDelhi}, {"lat", 1.0}, {"lon", 2.0}}, object{{"city_id", kMumbai}}}}});
  EXPECT_TRUE(has_field_error(both, "stops[0]")) << both.raw.body;
  auto london = call("POST", "/api/v1/routes",
                     object{{"stops", array{object{{"lat", 51.5}, {"lon", -0.12}}, object{{"city_id", kMumbai}}}}});
  EXPECT_EQ(london.status, 422);
  EXPECT_TRUE(has_field_error(london, "stops[0]")) << london.raw.body;
  // Port Blair is on the Andaman Islands: no road reaches it.
  auto port_blair = call("GET", "/api/v1/cities?q=Port%20Blair&limit=1").body.at("items").as_array()[0].at("id");
  auto island = call("POST", "/api/v1/routes",
                     object{{"stops", array{object{{"city_id", kMumbai}}, object{{"city_id", port_blair}}}}});
  EXPECT_EQ(island.status, 422) << island.raw.body;
  EXPECT_THAT(island.raw.body, HasSubstr("no road"));
  array many;
  for (int i = 0; i < 26; ++i) many.push_back(object{{"city_id", kDelhi}});
  EXPECT_EQ(call("POST", "/api/v1/routes", object{{"stops", many}}).status, 422);
  EXPECT_EQ(call("POST", "/api/v1/routes", object{{"stops", array{}}, {"trip_type", "teleport"}}).status, 422);
  auto malformed =
      testing::request(gateway_, "POST", "/api/v1/routes", "{\"stops\": [", {{"Content-Type", "application/json"}});
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
}

TEST_P(Location, MatrixAnswersEveryPairAndNullForUnreachable) {
  auto port_blair = call("GET", "/api/v1/cities?q=Port%20Blair&limit=1").body.at("items").as_array()[0].at("id");
  const object request{{"origins", array{object{{"city_id", kDelhi}}, object{{"city_id", kMumbai}}}},
                       {"destinations", array{object{{"city_id", kBengaluru}}, object{{"city_id", kDelhi}},
                                              object{{"city_id", port_blair}}}}};
  // A full matrix is costly: anonymous callers are turned away, any signed-in user is served.
  EXPECT_EQ(call("POST", "/api/v1/routes/matrix", request).status, 401);
  auto matrix = call("POST", "/api/v1/routes/matrix", request, token("0190f5a4-7c1e-7d2a-9b3c-0000000000cc", "rider"));
  ASSERT_EQ(matrix.status, 200) << matrix.raw.body;
  const auto& km = matrix.body.at("distances_km").as_array();
  ASSERT_EQ(km.size(), 2U);
  ASSERT_EQ(km[0].as_array().size(), 3U);
  EXPECT_EQ(km[0].as_array()[1].as_double(), 0.0);
  EXPECT_GT(km[0].as_array()[0].as_double(), 1900);
  EXPECT_TRUE(km[1].as_array()[2].is_null());
  // The matrix agrees with single routes.
  auto single = call("POST", "/api/v1/routes",
                     object{{"stops", array{object{{"city_id", kMumbai}}, object{{"city_id", kBengaluru}}}}});
  EXPECT_NEAR(single.body.at("distance_km").as_double(), km[1].as_array()[0].as_double(), 0.05);
  EXPECT_EQ(matrix.body.at("durations_min").as_array().size(), 2U);
}

TEST_P(Location, DriversSendTheirOwnPositionsOnly) {
  const std::string driver_a = "0190f5a4-7c1e-7d2a-9b3c-00000000000a";
  const std::string driver_b = "0190f5a4-7c1e-7d2a-9b3c-00000000000b";
  const auto token_a = token(driver_a, "driver");
  const auto token_b = token(driver_b, "driver");
  const auto rider = token("0190f5a4-7c1e-7d2a-9b3c-0000000000cc", "rider");
  const auto support = token("0190f5a4-7c1e-7d2a-9b3c-0000000000dd", "support");
  const auto now = std::chrono::system_clock::now();

  EXPECT_EQ(call("POST", "/api/v1/locations", object{{"pings", array{ping(28.6, 77.2, now)}}}).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/locations", object{{"pings", array{ping(28.6, 77.2, now)}}}, rider).status, 403);
  auto b_at_home = call("POST", "/api/v1/locations", object{{"pings", array{ping(12.97, 77.59, now)}}}, token_b);
  ASSERT_EQ(b_at_home.status, 200) << b_at_home.raw.body;
  // Driver A cannot move driver B.
  auto spoof = call("POST", "/api/v1/locations",
                    object{{"driver_id", driver_b}, {"pings", array{ping(28.6, 77.2, now + 1s)}}}, token_a);
  EXPECT_EQ(spoof.status, 403) << spoof.raw.body;
  auto b_now = call("GET", "/api/v1/locations/drivers/" + driver_b, std::nullopt, support);
  ASSERT_EQ(b_now.status, 200) << b_now.raw.body;
  EXPECT_NEAR(b_now.body.at("lat").as_double(), 12.97, 1e-6);

  // A batch out of order, with a duplicate, a 1,000 km jump in a minute and a ping from the future.
  auto batch = call("POST", "/api/v1/locations",
                    object{{"pings", array{ping(28.612, 77.212, now - 20s), ping(28.61, 77.21, now - 40s),
                                           ping(28.61, 77.21, now - 40s), ping(19.07, 72.88, now - 10s),
                                           ping(28.63, 77.23, now + 1h)}}},
                    token_a);
  ASSERT_EQ(batch.status, 200) << batch.raw.body;
  EXPECT_EQ(batch.body.at("accepted"), 2);
  EXPECT_EQ(batch.body.at("flagged").as_array().size(), 1U);
  EXPECT_EQ(batch.body.at("flagged").as_array()[0].at("index"), 3);
  EXPECT_EQ(batch.body.at("ignored").as_array().size(), 2U);
  auto a_now = call("GET", "/api/v1/locations/drivers/" + driver_a, std::nullopt, token_a);
  ASSERT_EQ(a_now.status, 200) << a_now.raw.body;
  EXPECT_NEAR(a_now.body.at("lat").as_double(), 28.612, 1e-6);

  // Nearby: support finds A near Connaught Place, not B in Bengaluru; riders may not ask.
  auto nearby = call("GET", "/api/v1/locations/nearby?lat=28.63&lon=77.22&radius_km=25", std::nullopt, support);
  ASSERT_EQ(nearby.status, 200) << nearby.raw.body;
  ASSERT_EQ(nearby.body.at("items").as_array().size(), 1U);
  EXPECT_EQ(nearby.body.at("items").as_array()[0].at("driver_id").as_string(), driver_a);
  EXPECT_EQ(call("GET", "/api/v1/locations/nearby?lat=28.63&lon=77.22", std::nullopt, rider).status, 403);
  // Another driver's position is not theirs to read: the same 404 as for a stranger.
  EXPECT_EQ(call("GET", "/api/v1/locations/drivers/" + driver_a, std::nullopt, token_b).status, 404);
  EXPECT_EQ(call("GET", "/api/v1/locations/drivers/" + driver_a, std::nullopt, rider).status, 404);

  auto bad = call(
      "POST", "/api/v1/locations",
      object{{"pings", array{object{{"lat", 95.0}, {"lon", 77.0}, {"accuracy_m", 5.0}, {"recorded_at", "yesterday"}}}}},
      token_a);
  EXPECT_EQ(bad.status, 422);
  EXPECT_TRUE(has_field_error(bad, "pings[0].lat")) << bad.raw.body;
  EXPECT_TRUE(has_field_error(bad, "pings[0].recorded_at")) << bad.raw.body;
}

TEST_P(Location, CrossingAStateBorderPublishesAnEvent) {
  const std::string driver = "0190f5a4-7c1e-7d2a-9b3c-0000000000ee";
  const auto driver_token = token(driver, "driver");
  const auto now = std::chrono::system_clock::now();
  // Delhi (Connaught Place) to Gurugram, twenty minutes later.
  auto moved =
      call("POST", "/api/v1/locations",
           object{{"pings", array{ping(28.6315, 77.2167, now - 20min), ping(28.4595, 77.0266, now)}}}, driver_token);
  ASSERT_EQ(moved.status, 200) << moved.raw.body;
  EXPECT_EQ(moved.body.at("state_crossings"), 1);
  const auto events = state_events(driver);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].at("driver_id").as_string(), driver);
  EXPECT_EQ(events[0].at("from_state"), "IN-DL");
  EXPECT_EQ(events[0].at("to_state"), "IN-HR");
  EXPECT_TRUE(events[0].contains("at"));
}

TEST_P(Location, SupportFollowsADriverLiveOverServerSentEvents) {
  const std::string driver = "0190f5a4-7c1e-7d2a-9b3c-0000000000ff";
  const auto driver_token = token(driver, "driver");
  const auto support = token("0190f5a4-7c1e-7d2a-9b3c-0000000000dd", "support");
  const auto rider = token("0190f5a4-7c1e-7d2a-9b3c-0000000000cc", "rider");
  EXPECT_EQ(call("GET", "/api/v1/locations/drivers/" + driver + "/stream", std::nullopt, rider).status, 404);

  testing::RawConnection stream(gateway_);
  ASSERT_TRUE(stream.send("GET /api/v1/locations/drivers/" + driver +
                          "/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer " +
                          support + "\r\n\r\n"));
  std::this_thread::sleep_for(300ms);
  auto sent = call("POST", "/api/v1/locations",
                   object{{"pings", array{ping(18.52, 73.85, std::chrono::system_clock::now())}}}, driver_token);
  ASSERT_EQ(sent.status, 200) << sent.raw.body;
  std::string received;
  ASSERT_TRUE(testing::eventually(
      [&] {
        received += stream.read_until_close(200ms);
        return received.find("event: position") != std::string::npos;
      },
      15s))
      << received;
  EXPECT_THAT(received, HasSubstr("text/event-stream"));

  // Each stream polls the store: a caller may hold five at a time, the sixth is refused.
  std::vector<std::unique_ptr<testing::RawConnection>> more;
  for (int i = 0; i < 4; ++i) {
    more.push_back(std::make_unique<testing::RawConnection>(gateway_));
    ASSERT_TRUE(more.back()->send("GET /api/v1/locations/drivers/" + driver +
                                  "/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + support + "\r\n\r\n"));
    ASSERT_TRUE(testing::eventually(
        [&] { return more.back()->read_until_close(100ms).find("200 OK") != std::string::npos; }, 10s));
  }
  EXPECT_EQ(call("GET", "/api/v1/locations/drivers/" + driver + "/stream", std::nullopt, support).status, 429);
  const auto data_at = received.find("data: ", received.find("event: position"));
  ASSERT_NE(data_at, std::string::npos) << received;
  const auto data_end = received.find('\n', data_at);
  const auto position = boost::json::parse(received.substr(data_at + 6, data_end - data_at - 6)).as_object();
  EXPECT_EQ(position.at("driver_id").as_string(), driver);
  EXPECT_NEAR(position.at("lat").as_double(), 18.52, 1e-6);
  EXPECT_NEAR(position.at("lon").as_double(), 73.85, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Backends, Location, ::testing::Values(Backend::sqlite_memory, Backend::postgres_redis),
                         backend_name);

}  // namespace
}  // namespace intercab
