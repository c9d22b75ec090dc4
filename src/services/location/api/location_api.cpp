// The location service's HTTP API; see location_api.hpp. Every handler: validate (400/415/422 with
// the field and what to change), authenticate when the route is not public, call the domain, shape
// the JSON of API conventions (lists are {items, next_cursor}; distances in km, durations in minutes).
#include "services/location/api/location_api.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "platform/auth/base64url.hpp"
#include "platform/auth/jwt.hpp"
#include "platform/auth/rbac.hpp"
#include "platform/errors/errors.hpp"
#include "platform/events/event.hpp"
#include "platform/events/outbox.hpp"
#include "platform/log/log.hpp"
#include "platform/text/text.hpp"
#include "platform/validate/validate.hpp"

namespace intercab::services::location {
namespace {

namespace geo = intercab::location;
using boost::json::array;
using boost::json::object;
using validate::Array;
using validate::Boolean;
using validate::Enum;
using validate::Integer;
using validate::Number;
using validate::Object;
using validate::Query;
using validate::String;
using Clock = std::chrono::system_clock;

constexpr std::string_view kTopic = "location.events";
// Pings may come from a phone whose clock runs a little fast; beyond this they are refused.
constexpr auto kFutureTolerance = std::chrono::seconds(120);
// Live driver streams: each polls the position store once per stream_poll_ms on the worker pool, so
// their number is bounded per caller and per instance.
constexpr int kMaxStreamsPerCaller = 5;
constexpr int kMaxOpenStreams = 2000;
constexpr auto kTrackingRecheck = std::chrono::seconds(30);
// Older pings describe where a driver was, not where they are: ignored.
constexpr auto kMaxPingAge = std::chrono::hours(24);
// GPS fixes jitter by tens of metres; only jumps longer than this are judged by their speed.
constexpr double kJumpCheckMinKm = 1.0;
// Route cache entries are tagged with this so that a change of the response shape starts afresh.
constexpr std::string_view kRouteCacheVersion = "v2";

// Rounds to `per_unit` parts of a unit (100: hundredths). Dividing by an exact integer gives the
// double nearest to the decimal, so responses read 0.35, not 0.35000000000000003.
double round_to(double value, double per_unit) { return std::round(value * per_unit) / per_unit; }
double km_value(double km) { return round_to(km, 100); }
double minutes_value(double minutes) { return round_to(minutes, 10); }

object city_json(const geo::City& city) {
  return object{{"id", city.id},
                {"name", city.name},
                {"state", city.state},
                {"state_code", city.state_code},
                {"lat", city.position.lat},
                {"lon", city.position.lon},
                {"population", city.population}};
}

// The km of each state rounded to 10 m so that they add up exactly to the rounded total (largest
// remainder method): pricing charges per state and must not lose or invent a fraction of a km.
std::vector<double> rounded_parts(const std::vector<intercab::location::StateDistance>& parts, double rounded_total) {
  const auto total_units = std::llround(rounded_total * 100);
  std::vector<long long> units(parts.size());
  std::vector<std::pair<double, std::size_t>> remainders;
  long long assigned = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const double exact = parts[i].km * 100;
    units[i] = static_cast<long long>(std::floor(exact));
    assigned += units[i];
    remainders.emplace_back(exact - std::floor(exact), i);
  }
  std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t k = 0; assigned < total_units && !remainders.empty(); ++k, ++assigned) {
    ++units[remainders[k % remainders.size()].second];
  }
  for (std::size_t k = 0; assigned > total_units && !remainders.empty(); ++k, --assigned) {
    auto& unit = units[remainders[remainders.size() - 1 - k % remainders.size()].second];
    if (unit > 0) --unit;
  }
  std::vector<double> km;
  for (auto value : units) km.push_back(static_cast<double>(value) / 100);
  return km;
}

// Page cursors of ranked lists: base64url("o:<offset>"); anything else is a 422 on `cursor`.
std::string encode_offset_cursor(std::size_t offset) { return auth::base64url_encode("o:" + std::to_string(offset)); }

std::size_t decode_offset_cursor(const std::optional<std::string>& cursor) {
  if (!cursor) return 0;
  auto decoded = auth::base64url_decode(*cursor);
  if (decoded && decoded->size() > 2 && decoded->size() < 12 && decoded->starts_with("o:")) {
    const std::string digits = decoded->substr(2);
    if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return static_cast<std::size_t>(std::stoull(digits));
    }
  }
  throw errors::Invalid("cursor", "must be a next_cursor value from an earlier page of the same query");
}

template <typename Item, typename ToJson>
object page_json(const std::vector<Item>& ranked, std::size_t offset, std::size_t limit, ToJson to_json) {
  array items;
  for (std::size_t i = offset; i < ranked.size() && i < offset + limit; ++i) items.push_back(to_json(ranked[i]));
  boost::json::value next = nullptr;
  if (offset + limit < ranked.size()) next = encode_offset_cursor(offset + limit);
  return object{{"items", std::move(items)}, {"next_cursor", std::move(next)}};
}

const Query kCitiesQuery{{"q", String().max_length(100).optional()},
                         {"state", String().max_length(60).optional()},
                         {"limit", Integer().range(1, 100).default_value(20)},
                         {"cursor", String().max_length(40).optional()}};
const Query kGeocodeQuery{{"q", String().min_length(1).max_length(200)},
                          {"limit", Integer().range(1, 20).default_value(5)}};
const Query kReverseQuery{{"lat", Number().range(-90, 90)}, {"lon", Number().range(-180, 180)}};
const Query kNearbyQuery{{"lat", Number().range(-85, 85)},
                         {"lon", Number().range(-180, 180)},
                         {"radius_km", Number().range(0.1, 500).default_value(10)},
                         {"limit", Integer().range(1, 100).default_value(20)}};

Object stop_schema() {
  return Object{{"city_id", Integer().at_least(1).optional()},
                {"lat", Number().range(-90, 90).optional()},
                {"lon", Number().range(-180, 180).optional()}};
}

Object ping_schema() {
  return Object{{"lat", Number().range(-85, 85)},
                {"lon", Number().range(-180, 180)},
                {"heading_deg", Number().range(0, 359.999999).default_value(0)},
                {"speed_kmh", Number().range(0, 400).default_value(0)},
                {"accuracy_m", Number().range(0, 100'000)},
                {"recorded_at", String().format(validate::Format::kTimestampUtc)}};
}

std::string format_time(Clock::time_point time) {
  // RFC 3339 with milliseconds: pings arrive more often than once a second.
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() % 1000;
  auto whole = text::format_rfc3339_utc(time);
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03lldZ", static_cast<long long>(millis));
  whole.pop_back();
  return whole + fraction;
}

object position_json(const geo::DriverPosition& position) {
  return object{{"driver_id", position.driver_id},
                {"lat", position.position.lat},
                {"lon", position.position.lon},
                {"heading_deg", position.heading_deg},
                {"speed_kmh", position.speed_kmh},
                {"accuracy_m", position.accuracy_m},
                {"recorded_at", format_time(position.recorded_at)}};
}

// Driver ids are user ids (UUIDs); anything else cannot name a driver and gets the same 404.
bool plausible_driver_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}

}  // namespace

struct LocationApi::Impl : std::enable_shared_from_this<LocationApi::Impl> {
  explicit Impl(LocationApiDependencies dependencies)
      : deps(std::move(dependencies)),
        access_verifier(deps.access_keys, auth::VerifierSettings::access_tokens(deps.issuer, deps.audience)),
        service_verifier(deps.internal_keys, auth::VerifierSettings::service_tokens(deps.internal_issuer, "location")) {
    if (!deps.geography || !deps.positions || deps.store == nullptr || deps.cache == nullptr || !deps.metrics) {
      throw std::logic_error("the location API needs its geography, positions, store, cache and metrics");
    }
    pings = &deps.metrics->counter("location_pings_total", "Position pings received, by outcome", {"outcome"});
    routes = &deps.metrics->counter("location_routes_total", "Route queries, by cache result", {"cache"});
    crossings = &deps.metrics->counter("location_state_crossings_total", "Drivers entering another state", {});
  }

  LocationApiDependencies deps;
  auth::TokenVerifier access_verifier;
  auth::TokenVerifier service_verifier;
  metrics::Family<metrics::Counter>* pings = nullptr;
  metrics::Family<metrics::Counter>* routes = nullptr;
  metrics::Family<metrics::Counter>* crossings = nullptr;
  mutable std::atomic<long long> last_purge_ms{0};
  mutable std::mutex streams_mutex;
  mutable std::map<std::string, int> streams_by_subject;
  mutable int open_streams = 0;
  mutable std::mutex grants_mutex;
  std::vector<TrackingGrant> grants;

  const Geography& geography() const { return *deps.geography; }

  // ---- authentication

  auth::Claims caller(const http::Request& request) const {
    return auth::verify_bearer(access_verifier, request.header("Authorization"), "an access token");
  }

  auth::Claims calling_service(const http::Request& request) const {
    return auth::verify_bearer(service_verifier, request.header("Authorization"), "a service token");
  }

  bool may_track(const auth::Claims& claims, std::string_view driver_id) const {
    if (claims.subject == driver_id || auth::allowed(claims, "locations.read_any")) return true;
    std::vector<TrackingGrant> current;
    {
      std::lock_guard lock(grants_mutex);  // grants may do I/O: call them outside the lock
      current = grants;
    }
    return std::any_of(current.begin(), current.end(),
                       [&](const TrackingGrant& grant) { return grant(claims, driver_id); });
  }

  // ---- cities and geocoding

  http::Response list_cities(http::Request& request) const {
    const auto query = validate::validate_query(request.query, kCitiesQuery);
    std::optional<std::string> state_code;
    if (auto state = query.find<std::string>("state")) {
      state_code = geography().cities.resolve_state(*state);
      if (!state_code) {
        throw errors::Invalid("state", "unknown state or union territory '" + *state +
                                           "'; use a name such as Maharashtra or an ISO code such as IN-MH");
      }
    }
    const auto matches = geography().cities.search(query.find<std::string>("q").value_or(""), state_code);
    const auto limit = static_cast<std::size_t>(query.get<std::int64_t>("limit"));
    const auto offset = decode_offset_cursor(query.find<std::string>("cursor"));
    return http::Response::json(page_json(matches, offset, limit, [](const geo::CityCatalog::Match& match) {
      auto item = city_json(*match.city);
      item["score"] = round_to(match.score, 1000);
      if (match.matched_name != match.city->name) item["matched_name"] = match.matched_name;
      return item;
    }));
  }

  http::Response get_city(http::Request& request) const {
    const auto& id_text = request.param("id");
    const geo::City* city = nullptr;
    if (!id_text.empty() && id_text.size() <= 12 &&
        std::all_of(id_text.begin(), id_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      city = geography().cities.find(std::stoll(id_text));
    }
    if (city == nullptr) throw errors::NotFound("no city with id " + id_text + "; find ids with GET /api/v1/cities?q=");
    return http::Response::json(city_json(*city));
  }

  static http::Response attribution(http::Request&) {
    return http::Response::json(object{
        {"cities",
         object{{"text", kCityAttribution}, {"licence", "CC BY 4.0"}, {"source", "https://www.geonames.org"}}},
        {"states", object{{"text", kStateAttribution},
                          {"licence", "public domain"},
                          {"source", "https://www.naturalearthdata.com"}}},
    });
  }

  http::Response geocode(http::Request& request) const {
    const auto query = validate::validate_query(request.query, kGeocodeQuery);
    const auto candidates = geography().cities.geocode(query.get<std::string>("q"),
                                                       static_cast<std::size_t>(query.get<std::int64_t>("limit")));
    array items;
    for (const auto& candidate : candidates) {
      items.push_back(object{{"city", object{{"id", candidate.city->id}, {"name", candidate.city->name}}},
                             {"state", candidate.city->state},
                             {"state_code", candidate.city->state_code},
                             {"lat", candidate.city->position.lat},
                             {"lon", candidate.city->position.lon},
                             {"confidence", round_to(candidate.confidence, 1000)}});
    }
    return http::Response::json(object{{"items", std::move(items)}, {"next_cursor", nullptr}});
  }

  // The nearest city in `state_code`, so that the city and the state answered agree; the nearest
  // city anywhere for a state without cities of our size (Sikkim, Lakshadweep, Ladakh...).
  std::optional<geo::CityCatalog::Nearest> nearest_city(geo::LatLon point, std::string_view state_code) const {
    std::optional<geo::CityCatalog::Nearest> best;
    for (const auto& city : geography().cities.all()) {
      if (city.state_code != state_code) continue;
      const double km = geo::great_circle_km(point, city.position);
      if (!best || km < best->distance_km) best = geo::CityCatalog::Nearest{&city, km};
    }
    return best ? best : geography().cities.nearest(point);
  }

  http::Response reverse_geocode(http::Request& request) const {
    const auto query = validate::validate_query(request.query, kReverseQuery);
    const geo::LatLon point{query.get<double>("lat"), query.get<double>("lon")};
    const auto state = geography().states.locate(point, deps.settings.state_snap_km);
    if (!state) {
      throw errors::Invalid("lat", "the point is more than " +
                                       std::to_string(static_cast<int>(deps.settings.state_snap_km)) +
                                       " km from every Indian state or union territory; we serve India only");
    }
    object body{{"state", state->state->name}, {"state_code", state->state->code}};
    if (const auto nearest = nearest_city(point, state->state->code)) {
      body["city"] = object{{"id", nearest->city->id}, {"name", nearest->city->name}};
      body["distance_km"] = km_value(nearest->distance_km);
    }
    if (state->distance_km > 0) body["snapped_km"] = km_value(state->distance_km);
    return http::Response::json(body);
  }

  // ---- routes

  // The stops of a route or matrix request, each either {city_id} or {lat, lon}, inside the area
  // we serve. Collects every problem before answering.
  std::vector<geo::Stop> parse_stops(const boost::json::array& stops, std::string_view field) const {
    std::vector<geo::Stop> parsed;
    std::vector<errors::FieldError> problems;
    for (std::size_t i = 0; i < stops.size(); ++i) {
      const auto& stop = stops[i].as_object();
      const std::string name = std::string(field) + "[" + std::to_string(i) + "]";
      const bool has_city = stop.contains("city_id");
      const bool has_point = stop.contains("lat") || stop.contains("lon");
      if (has_city == has_point) {
        problems.push_back({name, "give either city_id or both lat and lon"});
        continue;
      }
      if (has_city) {
        const auto* city = geography().cities.find(stop.at("city_id").as_int64());
        if (city == nullptr) {
          problems.push_back({name + ".city_id", "no such city; find ids with GET /api/v1/cities?q="});
          continue;
        }
        parsed.push_back({city->position, city->id});
        continue;
      }
      if (!stop.contains("lat") || !stop.contains("lon")) {
        problems.push_back({name, "give both lat and lon"});
        continue;
      }
      const geo::LatLon point{stop.at("lat").as_double(), stop.at("lon").as_double()};
      if (!geography().states.locate(point, deps.settings.state_snap_km)) {
        problems.push_back({name, "the point is outside India; we plan routes between places in India"});
        continue;
      }
      parsed.push_back({point, std::nullopt});
    }
    if (!problems.empty()) throw errors::Invalid(std::move(problems));
    return parsed;
  }

  object plan_json(const geo::RoutePlan& plan, const std::vector<geo::Stop>& stops) const {
    array legs;
    for (const auto& leg : plan.legs) {
      legs.push_back(object{{"from", leg.from},
                            {"to", leg.to},
                            {"distance_km", km_value(leg.km)},
                            {"duration_min", minutes_value(leg.minutes)}});
    }
    array order;
    for (auto index : plan.order) order.push_back(index);
    array states;
    const auto state_km = rounded_parts(plan.states, km_value(plan.km));
    for (std::size_t i = 0; i < plan.states.size(); ++i) {
      states.push_back(object{{"code", plan.states[i].code}, {"name", plan.states[i].name}, {"km", state_km[i]}});
    }
    array stop_items;
    for (const auto& stop : stops) {
      object item{{"lat", stop.position.lat}, {"lon", stop.position.lon}};
      if (stop.city_id) {
        const auto* city = geography().cities.find(*stop.city_id);
        item["city"] = object{{"id", city->id}, {"name", city->name}};
      }
      stop_items.push_back(std::move(item));
    }
    return object{{"distance_km", km_value(plan.km)},
                  {"duration_min", minutes_value(plan.minutes)},
                  {"legs", std::move(legs)},
                  {"order", std::move(order)},
                  {"polyline", geo::encode_polyline(plan.path)},
                  {"method", object{{"path", plan.path_method}, {"order", geo::to_string(plan.order_method)}}},
                  {"states_crossed", std::move(states)},
                  {"stops", std::move(stop_items)}};
  }

  std::string route_cache_key(const std::vector<geo::Stop>& stops, bool round_trip, bool optimize) const {
    std::ostringstream key;
    key.precision(7);
    key << "location:route:" << kRouteCacheVersion << ':' << geography().data_version << ':' << (round_trip ? 'r' : 'o')
        << (optimize ? 'x' : 'f');
    for (const auto& stop : stops) {
      if (stop.city_id) {
        key << ":c" << *stop.city_id;
      } else {
        key << ":p" << std::fixed << stop.position.lat << ',' << stop.position.lon;
      }
    }
    return key.str();
  }

  std::optional<std::string> cached_route(const std::string& key) const {
    if (deps.settings.route_cache_ttl_s <= 0) return std::nullopt;
    try {
      return deps.cache->get(key);
    } catch (const cache::CacheUnavailable& error) {
      log::warn("route cache unavailable; computing the route", {{"error", error.what()}});
      return std::nullopt;
    }
  }

  void remember_route(const std::string& key, const std::string& body) const {
    if (deps.settings.route_cache_ttl_s <= 0) return;
    try {
      deps.cache->set(key, body, std::chrono::seconds(deps.settings.route_cache_ttl_s));
    } catch (const std::exception& error) {
      log::warn("could not cache a route", {{"error", error.what()}});
    }
  }

  http::Response plan_route(http::Request& request) const {
    const auto max_stops = static_cast<std::size_t>(deps.settings.max_route_stops);
    const Object schema{{"stops", Array(stop_schema()).min_items(2).max_items(max_stops)},
                        {"trip_type", Enum({"one_way", "round_trip"}).default_value("one_way")},
                        {"optimize", Boolean().default_value(false)}};
    const auto body =
        validate::validate_body(validate::parse_json_body(request.header("Content-Type"), request.body), schema);
    const auto stops = parse_stops(body.at("stops").as_array(), "stops");
    const bool round_trip = body.at("trip_type").as_string() == "round_trip";
    const bool optimize = body.at("optimize").as_bool();

    const auto key = route_cache_key(stops, round_trip, optimize);
    if (auto cached = cached_route(key)) {
      routes->with({"hit"}).inc();
      auto response = http::Response::text(std::move(*cached), "application/json");
      response.headers.set("Cache-Status", "intercab-location; hit");
      return response;
    }
    geo::RoutePlan plan;
    try {
      plan = geography().planner->plan(stops, round_trip, optimize);
    } catch (const geo::RouteUnreachable& unreachable) {
      throw errors::Invalid("stops[" + std::to_string(unreachable.to) + "]",
                            "no road joins it to stops[" + std::to_string(unreachable.from) +
                                "] (islands such as the Andamans are not connected to the mainland)");
    }
    const auto text = http::to_json_text(plan_json(plan, stops));
    remember_route(key, text);
    routes->with({"miss"}).inc();
    auto response = http::Response::text(text, "application/json");
    response.headers.set("Cache-Status", "intercab-location; fwd=miss; stored");
    return response;
  }

  http::Response route_matrix(http::Request& request) const {
    // Up to 10,000 cells cost tens of milliseconds: only for callers the rate limits can meter.
    caller(request);
    const auto side = static_cast<std::size_t>(deps.settings.max_matrix_side);
    const Object schema{{"origins", Array(stop_schema()).min_items(1).max_items(side)},
                        {"destinations", Array(stop_schema()).min_items(1).max_items(side)}};
    const auto body =
        validate::validate_body(validate::parse_json_body(request.header("Content-Type"), request.body), schema);
    std::vector<errors::FieldError> problems;
    std::vector<geo::Stop> origins;
    std::vector<geo::Stop> destinations;
    try {
      origins = parse_stops(body.at("origins").as_array(), "origins");
    } catch (const errors::Invalid& invalid) {
      problems = invalid.field_errors();
    }
    try {
      destinations = parse_stops(body.at("destinations").as_array(), "destinations");
    } catch (const errors::Invalid& invalid) {
      problems.insert(problems.end(), invalid.field_errors().begin(), invalid.field_errors().end());
    }
    if (!problems.empty()) throw errors::Invalid(std::move(problems));
    const auto matrix = geography().planner->matrix(origins, destinations);
    auto to_rows = [](const std::vector<std::vector<std::optional<double>>>& rows, double (*round)(double)) {
      array out;
      for (const auto& row : rows) {
        array cells;
        for (const auto& cell : row) {
          if (cell) {
            cells.push_back(round(*cell));
          } else {
            cells.push_back(nullptr);
          }
        }
        out.push_back(std::move(cells));
      }
      return out;
    };
    return http::Response::json(object{{"distances_km", to_rows(matrix.km, km_value)},
                                       {"durations_min", to_rows(matrix.minutes, minutes_value)}});
  }

  // ---- live positions

  struct PingInput {
    std::size_t index = 0;
    geo::DriverPosition position;
  };

  // Drivers who stopped sending are dropped from the index every half staleness period, by whichever
  // ingest request comes first; answers already leave them out, this keeps the index small.
  void purge_stale_positions_now_and_then(Clock::time_point now) const {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const auto period_ms = deps.settings.position_staleness_s * 500LL;
    auto last = last_purge_ms.load();
    if (now_ms - last < period_ms || !last_purge_ms.compare_exchange_strong(last, now_ms)) return;
    try {
      const auto purged = deps.positions->purge_stale(now);
      if (purged > 0) log::info("stale driver positions purged", {{"count", purged}});
    } catch (const std::exception& error) {
      log::warn("could not purge stale driver positions", {{"error", error.what()}});
    }
  }

  const geo::State* state_at(geo::LatLon point) const {
    auto located = geography().states.locate(point, deps.settings.state_snap_km);
    return located ? located->state : nullptr;
  }

  http::Response ingest_pings(http::Request& request) const {
    const auto claims = caller(request);
    auth::require(claims, "locations.write_own");
    const auto max_pings = static_cast<std::size_t>(deps.settings.max_pings_per_batch);
    const Object schema{{"driver_id", String().max_length(64).optional()},
                        {"pings", Array(ping_schema()).min_items(1).max_items(max_pings)}};
    const auto body =
        validate::validate_body(validate::parse_json_body(request.header("Content-Type"), request.body), schema);
    if (body.contains("driver_id") && body.at("driver_id").as_string() != claims.subject) {
      throw errors::Forbidden("a driver can only send their own position; leave out driver_id or use your own id");
    }
    std::vector<PingInput> inputs;
    const auto& pings_json = body.at("pings").as_array();
    for (std::size_t i = 0; i < pings_json.size(); ++i) {
      const auto& ping = pings_json[i].as_object();
      const auto recorded_at = text::parse_rfc3339_utc(ping.at("recorded_at").as_string());
      if (!recorded_at)
        throw errors::Invalid("pings[" + std::to_string(i) + "].recorded_at", "must be a real UTC time");
      inputs.push_back({i,
                        {claims.subject,
                         {ping.at("lat").as_double(), ping.at("lon").as_double()},
                         ping.at("heading_deg").as_double(),
                         ping.at("speed_kmh").as_double(),
                         ping.at("accuracy_m").as_double(),
                         geo::stored_precision(*recorded_at)}});
    }
    // Phones batch pings when the network is poor; apply them in the order they were recorded.
    std::stable_sort(inputs.begin(), inputs.end(), [](const PingInput& a, const PingInput& b) {
      return a.position.recorded_at < b.position.recorded_at;
    });

    const auto now = Clock::now();
    array ignored;
    array flagged;
    std::size_t accepted = 0;
    std::vector<events::Event> crossing_events;
    // Jumps are judged against the driver's fresh position: after a gap (or before any ping) there is
    // nothing to compare with, so one bad fix can never lock a driver out for long.
    auto previous = deps.positions->latest(claims.subject, now);
    for (const auto& input : inputs) {
      const auto& position = input.position;
      if (position.recorded_at > now + kFutureTolerance || position.recorded_at < now - kMaxPingAge) {
        const bool future = position.recorded_at > now;
        ignored.push_back(object{{"index", input.index}, {"reason", future ? "recorded_in_future" : "too_old"}});
        pings->with({future ? "future" : "too_old"}).inc();
        continue;
      }
      if (previous && position.recorded_at <= previous->recorded_at) {
        const bool duplicate = position.recorded_at == previous->recorded_at;
        ignored.push_back(object{{"index", input.index}, {"reason", duplicate ? "duplicate" : "out_of_order"}});
        pings->with({duplicate ? "duplicate" : "out_of_order"}).inc();
        continue;
      }
      if (previous) {
        // Both fixes may be off by their accuracy radius; only the distance beyond that counts.
        const double km = std::max(0.0, geo::great_circle_km(previous->position, position.position) -
                                            (previous->accuracy_m + position.accuracy_m) / 1000.0);
        const double hours = std::chrono::duration<double>(position.recorded_at - previous->recorded_at).count() / 3600;
        const double speed = km / std::max(hours, 1e-9);
        if (km > kJumpCheckMinKm && speed > deps.settings.max_plausible_speed_kmh) {
          flagged.push_back(
              object{{"index", input.index}, {"reason", "implausible_jump"}, {"implied_speed_kmh", std::round(speed)}});
          pings->with({"implausible_jump"}).inc();
          log::warn("implausible position jump",
                    {{"driver_id", claims.subject}, {"implied_speed_kmh", std::to_string(std::lround(speed))}});
          continue;
        }
      }
      const auto result = deps.positions->upsert(position);
      if (!result.applied) {
        const bool duplicate = result.previous && result.previous->recorded_at == position.recorded_at;
        ignored.push_back(object{{"index", input.index}, {"reason", duplicate ? "duplicate" : "out_of_order"}});
        pings->with({duplicate ? "duplicate" : "out_of_order"}).inc();
        continue;
      }
      ++accepted;
      pings->with({"accepted"}).inc();
      // The crossing is decided on the position the store replaced, read atomically with the write,
      // so two concurrent batches of one driver cannot both report the same crossing.
      if (result.previous) {
        const auto* from_state = state_at(result.previous->position);
        const auto* to_state = state_at(position.position);
        if (from_state != nullptr && to_state != nullptr && from_state != to_state) {
          crossing_events.push_back(events::make_event("location", "driver.state_entered", claims.subject,
                                                       object{{"driver_id", claims.subject},
                                                              {"from_state", from_state->code},
                                                              {"to_state", to_state->code},
                                                              {"at", format_time(position.recorded_at)},
                                                              {"lat", position.position.lat},
                                                              {"lon", position.position.lon}}));
        }
      }
      previous = position;
    }
    purge_stale_positions_now_and_then(now);
    if (!crossing_events.empty()) {
      deps.store->transact([&](db::Tx& tx) {
        for (const auto& event : crossing_events) events::publish(tx, kTopic, event);
        return 0;
      });
      crossings->with({}).inc(static_cast<double>(crossing_events.size()));
    }
    return http::Response::json(object{{"accepted", accepted},
                                       {"ignored", std::move(ignored)},
                                       {"flagged", std::move(flagged)},
                                       {"state_crossings", crossing_events.size()}});
  }

  http::Response nearby(const validate::QueryValues& query) const {
    const geo::LatLon center{query.get<double>("lat"), query.get<double>("lon")};
    const auto found = deps.positions->nearby(center, query.get<double>("radius_km"),
                                              static_cast<std::size_t>(query.get<std::int64_t>("limit")), Clock::now());
    array items;
    for (const auto& driver : found) {
      items.push_back(object{{"driver_id", driver.driver_id},
                             {"lat", driver.position.lat},
                             {"lon", driver.position.lon},
                             {"distance_km", round_to(driver.distance_km, 1000)},
                             {"recorded_at", format_time(driver.recorded_at)}});
    }
    return http::Response::json(object{{"items", std::move(items)}, {"next_cursor", nullptr}});
  }

  http::Response nearby_for_staff(http::Request& request) const {
    auth::require(caller(request), "locations.read_any");
    return nearby(validate::validate_query(request.query, kNearbyQuery));
  }

  http::Response nearby_for_services(http::Request& request) const {
    calling_service(request);
    return nearby(validate::validate_query(request.query, kNearbyQuery));
  }

  const std::string& tracked_driver(http::Request& request, const auth::Claims& claims) const {
    const auto& driver_id = request.param("id");
    if (!plausible_driver_id(driver_id) || !may_track(claims, driver_id)) throw auth::not_found("driver");
    return driver_id;
  }

  http::Response driver_position(http::Request& request) const {
    const auto claims = caller(request);
    const auto& driver_id = tracked_driver(request, claims);
    auto position = deps.positions->latest(driver_id, Clock::now());
    if (!position) {
      throw errors::NotFound("driver " + driver_id + " has sent no position in the last " +
                             std::to_string(deps.settings.position_staleness_s) + " s");
    }
    return http::Response::json(position_json(*position));
  }

  // A place among the open driver streams, given back when the stream ends (its source is destroyed).
  class StreamSlot {
   public:
    StreamSlot(std::shared_ptr<const Impl> owner, std::string subject)
        : owner_(std::move(owner)), subject_(std::move(subject)) {}
    ~StreamSlot() {
      std::lock_guard lock(owner_->streams_mutex);
      --owner_->open_streams;
      if (--owner_->streams_by_subject[subject_] == 0) owner_->streams_by_subject.erase(subject_);
    }
    StreamSlot(const StreamSlot&) = delete;
    StreamSlot& operator=(const StreamSlot&) = delete;

   private:
    std::shared_ptr<const Impl> owner_;
    std::string subject_;
  };

  std::shared_ptr<StreamSlot> take_stream_slot(const std::string& subject) const {
    std::lock_guard lock(streams_mutex);
    if (open_streams >= kMaxOpenStreams) {
      throw errors::Unavailable("too many live streams are open on this instance; retry shortly", 30);
    }
    auto& mine = streams_by_subject[subject];
    if (mine >= kMaxStreamsPerCaller) {
      throw errors::TooManyRequests("at most " + std::to_string(kMaxStreamsPerCaller) +
                                        " live streams per user; close one before opening another",
                                    30);
    }
    ++mine;
    ++open_streams;
    return std::make_shared<StreamSlot>(shared_from_this(), subject);
  }

  http::Response driver_stream(http::Request& request) const {
    const auto claims = caller(request);
    const std::string driver_id = tracked_driver(request, claims);
    auto source = std::make_shared<http::EventStreamSource>();
    source->poll_interval = std::chrono::milliseconds(deps.settings.stream_poll_ms);
    source->max_duration = std::chrono::seconds(deps.settings.stream_max_duration_s);
    // The token's expiry ends the stream, and the right to follow is checked again every
    // kTrackingRecheck: a rider whose trip ended must not follow the driver any longer.
    source->poll = [self = shared_from_this(), slot = take_stream_slot(claims.subject), claims, driver_id,
                    last_sent = std::make_shared<Clock::time_point>(),
                    next_check = std::make_shared<Clock::time_point>(Clock::now() + kTrackingRecheck),
                    ended = std::make_shared<bool>(false)]() -> std::optional<std::string> {
      const auto now = Clock::now();
      if (*ended) return std::nullopt;
      auto end_because = [&ended](std::string_view reason) {
        *ended = true;  // one last event telling why, then the stream closes
        return "event: end\ndata: {\"reason\":\"" + std::string(reason) + "\"}\n\n";
      };
      if (now >= claims.expires_at) return end_because("token_expired");
      if (now >= *next_check) {
        *next_check = now + kTrackingRecheck;
        if (!self->may_track(claims, driver_id)) return end_because("access_revoked");
      }
      auto position = self->deps.positions->latest(driver_id, now);
      if (!position || position->recorded_at <= *last_sent) return std::string{};
      *last_sent = position->recorded_at;
      const auto id = std::chrono::duration_cast<std::chrono::milliseconds>(position->recorded_at.time_since_epoch());
      return "event: position\nid: " + std::to_string(id.count()) +
             "\ndata: " + http::to_json_text(position_json(*position)) + "\n\n";
    };
    return http::Response::events(std::move(source));
  }
};

LocationApi::LocationApi(LocationApiDependencies dependencies)
    : impl_(std::make_shared<Impl>(std::move(dependencies))) {}

void LocationApi::add_tracking_grant(TrackingGrant grant) {
  std::lock_guard lock(impl_->grants_mutex);
  impl_->grants.push_back(std::move(grant));
}

void LocationApi::add_routes(http::Router& router) const {
  auto bind = [impl = impl_](http::Response (Impl::*handler)(http::Request&) const) {
    return [impl, handler](http::Request& request) { return ((*impl).*handler)(request); };
  };
  router.add("GET", "/api/v1/cities", bind(&Impl::list_cities));
  router.add("GET", "/api/v1/cities/attribution", &Impl::attribution);
  router.add("GET", "/api/v1/cities/{id}", bind(&Impl::get_city));
  router.add("GET", "/api/v1/geocode", bind(&Impl::geocode));
  router.add("GET", "/api/v1/geocode/reverse", bind(&Impl::reverse_geocode));
  router.add("POST", "/api/v1/routes", bind(&Impl::plan_route));
  router.add("POST", "/api/v1/routes/matrix", bind(&Impl::route_matrix));
  router.add("POST", "/api/v1/locations", bind(&Impl::ingest_pings));
  router.add("GET", "/api/v1/locations/nearby", bind(&Impl::nearby_for_staff));
  router.add("GET", "/internal/v1/locations/nearby", bind(&Impl::nearby_for_services));
  router.add("GET", "/api/v1/locations/drivers/{id}", bind(&Impl::driver_position));
  router.add("GET", "/api/v1/locations/drivers/{id}/stream", bind(&Impl::driver_stream));
}

}  // namespace intercab::services::location
