// Location service benchmark (issue 7), the in-process half: every figure beside its baseline, measured in the
// same run on the same data. bench/location/run adds (d), ping ingest through the gateway vs Redis GEOADD.
//
// (a) Route queries between the same random pairs of cities (one seed) of the largest connected component of our
//     road graph (the synthetic graph the service builds at start-up). Ours, in process: RoadGraph::shortest_path
//     (A*), RoadGraph::costs_from to one target (Dijkstra, cost only) and RoutePlanner::plan of the two cities (the
//     whole route the API answers: A*, state split, path points). Baseline: pgRouting on the same edges loaded
//     into PostgreSQL (one row per road, cost = reverse_cost = our km), pgr_aStar and pgr_dijkstra, each query one
//     execution of a prepared statement on one connection, every path row fetched, timed on the client. That
//     pgRouting reads its edges with the edges SQL on every call is how it is meant to be used, so it is counted.
//     Every pgRouting distance is checked against ours (a mismatch is printed). The "10x" target compares our
//     A* and our whole route with the faster of pgr_aStar and pgr_dijkstra at each percentile.
// (b) A 100 x 100 distance matrix between random cities: RoutePlanner::matrix vs pgr_dijkstraCost(edges,
//     100 origins, 100 destinations), prepared, on the same connection.
// (c) The 20 nearest drivers within 10 km of a random point, among 100,000 drivers spread over India (uniform on
//     Indian land) or dense (uniform in a 0.6 x 0.6 degree box around Delhi); the query points follow the same
//     distribution. One client thread, queries one after another: the memory adapter; the Redis adapter (its
//     Lua script: GEOSEARCH with a growing radius, then the drivers' records); and raw GEOSEARCH ... BYRADIUS
//     10 km ASC COUNT 20 WITHDIST sent with RedisCache::command (one pooled hiredis connection, one round trip per
//     query) on a plain geo key holding the same points. The "5x" target is memory vs raw GEOSEARCH; the ratio to
//     the Redis adapter (which answers the same question with less of Redis's work) is printed beside it.
//
//   location_bench [--postgres-url URL] [--redis-url URL] [--route-queries N] [--matrix-runs N] [--drivers N]
//                  [--nearby-queries N] [--seed N]
// Without --postgres-url / --redis-url it starts its own postgres / redis-server on free loopback ports (test
// fixtures) and stops them at exit. With them, it creates and at the end drops the database
// intercab_location_bench (the URL names the database to connect to for that), and deletes the Redis keys it
// wrote (all under "bench:location:"). Figures only: exits 0 whatever they are, 1 when something fails.
#include <libpq-fe.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numbers>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "platform/cache/cache_url.hpp"
#include "platform/cache/redis_cache.hpp"
#include "platform/log/log.hpp"
#include "postgres_server.hpp"
#include "redis_server.hpp"
#include "services/location/location_module.hpp"
#include "services/location/positions/driver_positions.hpp"

namespace {

using namespace intercab;
namespace geo = intercab::location;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kDatabase = "intercab_location_bench";
constexpr const char* kRedisKeyPrefix = "bench:location:";
constexpr std::size_t kNearestLimit = 20;
constexpr double kNearbyRadiusKm = 10;  // the API's default radius_km

// ---- timing

double elapsed_us(SteadyClock::time_point since) {
  return std::chrono::duration<double, std::micro>(SteadyClock::now() - since).count();
}

struct Timings {
  std::vector<double> us;  // one entry per operation

  // Nearest-rank percentile.
  double percentile(double fraction) const {
    if (us.empty()) return 0;
    auto sorted = us;
    std::sort(sorted.begin(), sorted.end());
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
  }
  double total_us() const {
    double total = 0;
    for (double value : us) total += value;
    return total;
  }
  double per_second() const { return us.empty() ? 0 : static_cast<double>(us.size()) / (total_us() / 1e6); }
};

void print_latency_header() {
  std::printf("  %-50s %8s %10s %10s %10s %12s\n", "", "count", "p50 us", "p99 us", "max us", "per s");
}

void print_latency_row(const std::string& what, const Timings& timings) {
  std::printf("  %-50s %8zu %10.1f %10.1f %10.1f %12.0f\n", what.c_str(), timings.us.size(), timings.percentile(0.50),
              timings.percentile(0.99), timings.percentile(1.0), timings.per_second());
}

std::string format_double(double value) {
  char buffer[32];
  const auto written = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, written.ptr);
}

// ---- PostgreSQL through libpq: one connection, prepared statements

struct ResultFree {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

class PostgresConnection {
 public:
  // `url` is a libpq connection URI; `database`, when given, replaces the database it names.
  explicit PostgresConnection(const std::string& url, const char* database = nullptr) {
    const char* keywords[] = {"dbname", database != nullptr ? "dbname" : nullptr, nullptr};
    const char* values[] = {url.c_str(), database, nullptr};
    connection_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (PQstatus(connection_) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(connection_);
      PQfinish(connection_);
      throw std::runtime_error("cannot connect to PostgreSQL: " + message);
    }
    // NOTICEs ("installing required extension postgis") would interleave with the tables.
    PQsetNoticeProcessor(
        connection_, [](void*, const char*) {}, nullptr);
  }
  ~PostgresConnection() { PQfinish(connection_); }
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  Result execute(const std::string& sql) { return check(PQexec(connection_, sql.c_str()), sql); }

  void prepare(const std::string& name, const std::string& sql, int parameter_count) {
    check(PQprepare(connection_, name.c_str(), sql.c_str(), parameter_count, nullptr), sql);
  }

  Result execute_prepared(const std::string& name, const std::vector<std::string>& parameters) {
    std::vector<const char*> values;
    for (const auto& parameter : parameters) values.push_back(parameter.c_str());
    return check(PQexecPrepared(connection_, name.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                                nullptr, /*resultFormat=*/0),
                 name);
  }

 private:
  Result check(PGresult* raw, const std::string& what) {
    Result result(raw);
    const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("PostgreSQL failed on " + what + ": " + PQerrorMessage(connection_));
    }
    return result;
  }

  PGconn* connection_ = nullptr;
};

double number_at(const Result& result, int row, int column) { return std::stod(PQgetvalue(result.get(), row, column)); }

// ---- (a) and (b): routes and matrices

// pgRouting's A* heuristic is the straight line between (x, y) points times `factor`. With x = longitude *
// cos(highest latitude of the graph) and y = latitude, in degrees, and factor = km per degree of latitude, the
// heuristic is at most the great-circle distance for every pair of nodes, up to the curvature of long lines,
// which the roads' circuity (every road is 1.08 x its straight line) more than covers: admissible, so pgr_aStar
// returns shortest paths, which the distance check confirms.
constexpr double kKmPerDegree = geo::kEarthRadiusKm * std::numbers::pi / 180.0;

struct RoutePair {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
};

// The graph's roads as pgRouting edges, one row per road (cost = reverse_cost = km).
void load_edges(PostgresConnection& postgres, const geo::RoadGraph& graph, double x_scale) {
  postgres.execute(
      "CREATE TABLE edges (id bigint PRIMARY KEY, source bigint NOT NULL, target bigint NOT NULL, cost float8 NOT "
      "NULL, reverse_cost float8 NOT NULL, x1 float8 NOT NULL, y1 float8 NOT NULL, x2 float8 NOT NULL, y2 float8 NOT "
      "NULL)");
  std::string insert;
  std::size_t rows = 0;
  std::int64_t id = 0;
  const auto flush = [&] {
    if (rows > 0) postgres.execute(insert);
    insert.clear();
    rows = 0;
  };
  for (std::uint32_t a = 0; a < graph.node_count(); ++a) {
    for (const auto& edge : graph.edges_from(a)) {
      if (edge.to < a) continue;  // each road is stored once per direction
      const auto& from = graph.node(a);
      const auto& to = graph.node(edge.to);
      insert += (rows == 0 ? "INSERT INTO edges VALUES (" : ", (") + std::to_string(++id) + "," +
                std::to_string(from.id) + "," + std::to_string(to.id) + "," + format_double(edge.km) + "," +
                format_double(edge.km) + "," + format_double(from.position.lon * x_scale) + "," +
                format_double(from.position.lat) + "," + format_double(to.position.lon * x_scale) + "," +
                format_double(to.position.lat) + ")";
      if (++rows == 500) flush();
    }
  }
  flush();
  postgres.execute("ANALYZE edges");
}

struct RouteResults {
  Timings ours_astar;
  Timings ours_dijkstra;
  Timings ours_plan;
  Timings pg_astar;
  Timings pg_dijkstra;
  std::size_t mismatches = 0;
};

// The km of the last row (the path's agg_cost), or -1 for no path.
double path_km(const Result& result) {
  const int rows = PQntuples(result.get());
  return rows == 0 ? -1.0 : number_at(result, rows - 1, 1);
}

void check_same_km(double ours, double theirs, const char* what, const geo::RoadGraph& graph, const RoutePair& pair,
                   std::size_t& mismatches) {
  if (std::abs(ours - theirs) <= 1e-9 * std::max(1.0, ours)) return;
  if (++mismatches <= 5) {
    std::printf("  mismatch: %s %lld -> %lld: ours %.6f km, pgRouting %.6f km\n", what,
                static_cast<long long>(graph.node(pair.from).id), static_cast<long long>(graph.node(pair.to).id), ours,
                theirs);
  }
}

RouteResults measure_routes(const geo::RoutePlanner& planner, PostgresConnection& postgres,
                            const std::vector<RoutePair>& pairs) {
  const auto& graph = planner.graph();
  const auto stop_at = [&](std::uint32_t node) { return geo::Stop{graph.node(node).position, graph.node(node).id}; };
  RouteResults results;
  std::vector<double> ours_km;
  const std::size_t warm_up = std::min<std::size_t>(pairs.size(), 50);
  for (std::size_t i = 0; i < warm_up; ++i) {
    (void)graph.shortest_path(pairs[i].from, pairs[i].to);
    (void)planner.plan({stop_at(pairs[i].from), stop_at(pairs[i].to)}, false, false);
  }
  for (const auto& pair : pairs) {
    const auto started = SteadyClock::now();
    const auto path = graph.shortest_path(pair.from, pair.to);
    results.ours_astar.us.push_back(elapsed_us(started));
    if (path.nodes.empty()) throw std::logic_error("no path within the largest component");
    ours_km.push_back(path.km);
  }
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const std::uint32_t target = pairs[i].to;
    const auto started = SteadyClock::now();
    const auto costs = graph.costs_from(pairs[i].from, std::span(&target, 1));
    results.ours_dijkstra.us.push_back(elapsed_us(started));
    if (std::abs(costs[0].km - ours_km[i]) > 1e-9 * std::max(1.0, ours_km[i])) {
      throw std::logic_error("our A* and Dijkstra disagree");
    }
  }
  for (const auto& pair : pairs) {
    const std::vector<geo::Stop> stops{stop_at(pair.from), stop_at(pair.to)};
    const auto started = SteadyClock::now();
    const auto plan = planner.plan(stops, /*round_trip=*/false, /*optimize=*/false);
    results.ours_plan.us.push_back(elapsed_us(started));
    if (plan.legs.size() != 1) throw std::logic_error("a plan of two stops has one leg");
  }

  const struct {
    const char* name;
    Timings* timings;
  } statements[] = {{"astar", &results.pg_astar}, {"dijkstra", &results.pg_dijkstra}};
  for (const auto& statement : statements) {
    for (std::size_t i = 0; i < warm_up; ++i) {
      postgres.execute_prepared(
          statement.name, {std::to_string(graph.node(pairs[i].from).id), std::to_string(graph.node(pairs[i].to).id)});
    }
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const std::vector<std::string> parameters{std::to_string(graph.node(pairs[i].from).id),
                                                std::to_string(graph.node(pairs[i].to).id)};
      const auto started = SteadyClock::now();
      const auto result = postgres.execute_prepared(statement.name, parameters);
      // Reading every row is part of answering the route (as our Path's node list is).
      const int rows = PQntuples(result.get());
      std::int64_t node_sum = 0;
      for (int row = 0; row < rows; ++row) node_sum += std::stoll(PQgetvalue(result.get(), row, 0));
      const double km = path_km(result);
      statement.timings->us.push_back(elapsed_us(started));
      if (node_sum == 0) throw std::logic_error("pgRouting found no path within the largest component");
      check_same_km(ours_km[i], km, statement.name, graph, pairs[i], results.mismatches);
    }
  }
  return results;
}

struct MatrixResults {
  Timings ours;
  Timings pg;
  std::size_t ours_cells = 0;
  std::size_t pg_cells = 0;
};

std::string bigint_array(const std::vector<std::uint32_t>& nodes, const geo::RoadGraph& graph) {
  std::string text = "{";
  for (std::size_t i = 0; i < nodes.size(); ++i) text += (i > 0 ? "," : "") + std::to_string(graph.node(nodes[i]).id);
  return text + "}";
}

MatrixResults measure_matrices(const geo::RoutePlanner& planner, PostgresConnection& postgres,
                               const std::vector<std::uint32_t>& component, int runs, std::mt19937_64& random) {
  const auto& graph = planner.graph();
  std::uniform_int_distribution<std::size_t> pick(0, component.size() - 1);
  MatrixResults results;
  for (int run = -1; run < runs; ++run) {  // run -1 warms up
    std::vector<std::uint32_t> origins;
    std::vector<std::uint32_t> destinations;
    for (int i = 0; i < 100; ++i) origins.push_back(component[pick(random)]);
    for (int i = 0; i < 100; ++i) destinations.push_back(component[pick(random)]);
    std::vector<geo::Stop> origin_stops;
    std::vector<geo::Stop> destination_stops;
    for (auto node : origins) origin_stops.push_back({graph.node(node).position, graph.node(node).id});
    for (auto node : destinations) destination_stops.push_back({graph.node(node).position, graph.node(node).id});

    auto started = SteadyClock::now();
    const auto matrix = planner.matrix(origin_stops, destination_stops);
    const double ours_us = elapsed_us(started);
    std::size_t cells = 0;
    for (const auto& row : matrix.km) {
      for (const auto& cell : row) cells += cell.has_value() ? 1 : 0;
    }

    const std::vector<std::string> parameters{bigint_array(origins, graph), bigint_array(destinations, graph)};
    started = SteadyClock::now();
    const auto result = postgres.execute_prepared("matrix", parameters);
    double checksum = 0;
    for (int row = 0; row < PQntuples(result.get()); ++row) checksum += number_at(result, row, 2);
    const double pg_us = elapsed_us(started);
    if (!(checksum > 0)) throw std::logic_error("pgr_dijkstraCost returned nothing");
    if (run < 0) continue;
    results.ours.us.push_back(ours_us);
    results.pg.us.push_back(pg_us);
    results.ours_cells = cells;
    results.pg_cells = static_cast<std::size_t>(PQntuples(result.get()));
  }
  return results;
}

// ---- (c): nearest drivers

struct Distribution {
  std::string name;
  std::vector<geo::LatLon> drivers;
  std::vector<geo::LatLon> queries;
};

// Uniform on Indian land: uniform in India's bounding box, kept when a state contains the point.
std::vector<geo::LatLon> points_on_land(const geo::StateMap& states, std::size_t count, std::mt19937_64& random) {
  std::uniform_real_distribution<double> lat(6.5, 37.5);
  std::uniform_real_distribution<double> lon(68.0, 97.5);
  std::vector<geo::LatLon> points;
  while (points.size() < count) {
    const geo::LatLon point{lat(random), lon(random)};
    if (states.locate(point, 0.0)) points.push_back(point);
  }
  return points;
}

// Uniform in the 0.6 x 0.6 degree box centred on Delhi (Connaught Place).
std::vector<geo::LatLon> points_around_delhi(std::size_t count, std::mt19937_64& random) {
  std::uniform_real_distribution<double> lat(28.63 - 0.3, 28.63 + 0.3);
  std::uniform_real_distribution<double> lon(77.22 - 0.3, 77.22 + 0.3);
  std::vector<geo::LatLon> points;
  for (std::size_t i = 0; i < count; ++i) points.push_back({lat(random), lon(random)});
  return points;
}

std::string driver_id(std::size_t index) { return "driver-" + std::to_string(index); }

struct NearbyTimings {
  Timings load;  // per ping written
  Timings query;
  double mean_hits = 0;
};

NearbyTimings measure_adapter(geo::DriverPositions& positions, const Distribution& distribution,
                              geo::Clock::time_point recorded_at) {
  NearbyTimings timings;
  for (std::size_t i = 0; i < distribution.drivers.size(); ++i) {
    const geo::DriverPosition position{driver_id(i), distribution.drivers[i], 90.0, 30.0, 8.0, recorded_at};
    const auto started = SteadyClock::now();
    if (!positions.upsert(position).applied) throw std::logic_error("a first ping was not applied");
    timings.load.us.push_back(elapsed_us(started));
  }
  const auto now = recorded_at + std::chrono::seconds(1);
  std::size_t hits = 0;
  for (const auto& center : distribution.queries) {
    const auto started = SteadyClock::now();
    const auto found = positions.nearby(center, kNearbyRadiusKm, kNearestLimit, now);
    timings.query.us.push_back(elapsed_us(started));
    hits += found.size();
  }
  timings.mean_hits = static_cast<double>(hits) / static_cast<double>(distribution.queries.size());
  return timings;
}

NearbyTimings measure_raw_geosearch(cache::RedisCache& redis, const std::string& key,
                                    const Distribution& distribution) {
  NearbyTimings timings;
  constexpr std::size_t kBatch = 1000;  // GEOADD of 1000 members per command
  for (std::size_t first = 0; first < distribution.drivers.size(); first += kBatch) {
    std::vector<std::string> arguments{"GEOADD", key};
    for (std::size_t i = first; i < std::min(first + kBatch, distribution.drivers.size()); ++i) {
      arguments.push_back(format_double(distribution.drivers[i].lon));
      arguments.push_back(format_double(distribution.drivers[i].lat));
      arguments.push_back(driver_id(i));
    }
    const std::vector<std::string_view> views(arguments.begin(), arguments.end());
    const auto started = SteadyClock::now();
    redis.command(views);
    const double batch_us = elapsed_us(started);
    const std::size_t members = (arguments.size() - 2) / 3;
    for (std::size_t i = 0; i < members; ++i) timings.load.us.push_back(batch_us / static_cast<double>(members));
  }
  const std::string radius = format_double(kNearbyRadiusKm);
  const std::string count = std::to_string(kNearestLimit);
  std::size_t hits = 0;
  for (const auto& center : distribution.queries) {
    const std::string lon = format_double(center.lon);
    const std::string lat = format_double(center.lat);
    const std::string_view arguments[] = {"GEOSEARCH", key,  "FROMLONLAT", lon,     lat,   "BYRADIUS",
                                          radius,      "km", "ASC",        "COUNT", count, "WITHDIST"};
    const auto started = SteadyClock::now();
    const auto reply = redis.command(arguments);
    timings.query.us.push_back(elapsed_us(started));
    hits += reply.elements.size();
  }
  timings.mean_hits = static_cast<double>(hits) / static_cast<double>(distribution.queries.size());
  return timings;
}

void delete_keys(cache::RedisCache& redis, const std::vector<std::string>& keys) {
  std::vector<std::string_view> arguments{"DEL"};
  arguments.insert(arguments.end(), keys.begin(), keys.end());
  redis.command(arguments);
}

void print_nearby_row(const std::string& what, const NearbyTimings& timings) {
  std::printf("  %-50s %10.0f %10.1f %10.1f %10.1f %12.0f\n", what.c_str(), timings.query.per_second(),
              timings.query.percentile(0.50), timings.query.percentile(0.99), timings.mean_hits,
              timings.load.per_second());
}

const char* verdict(bool met) { return met ? "met" : "NOT met"; }

struct Options {
  std::string postgres_url;
  std::string redis_url;
  std::size_t route_queries = 1000;
  int matrix_runs = 20;
  std::size_t drivers = 100'000;
  std::size_t nearby_queries = 2000;
  std::uint64_t seed = 7;
};

void run(const Options& options) {
  std::unique_ptr<testing::PostgresServer> own_postgres;
  std::string postgres_url = options.postgres_url;
  if (postgres_url.empty()) {
    own_postgres = std::make_unique<testing::PostgresServer>();
    postgres_url = own_postgres->url("postgres");
  }
  std::unique_ptr<testing::RedisServer> own_redis;
  std::string redis_url = options.redis_url;
  if (redis_url.empty()) {
    own_redis = std::make_unique<testing::RedisServer>();
    redis_url = own_redis->url();
  }

  const auto geography = services::location::load_geography(config::LocationSettings{});
  const auto& planner = *geography->planner;
  const auto& graph = planner.graph();
  const auto component = graph.connected_components().front();

  std::mt19937_64 random(options.seed);
  std::uniform_int_distribution<std::size_t> pick(0, component.size() - 1);
  std::vector<RoutePair> pairs;
  while (pairs.size() < options.route_queries) {
    const RoutePair pair{component[pick(random)], component[pick(random)]};
    if (pair.from != pair.to) pairs.push_back(pair);
  }

  {
    PostgresConnection admin(postgres_url);
    admin.execute(std::string("DROP DATABASE IF EXISTS ") + kDatabase);
    admin.execute(std::string("CREATE DATABASE ") + kDatabase);
  }
  double max_lat = -90;
  for (auto node : component) max_lat = std::max(max_lat, graph.node(node).position.lat);
  const double x_scale = std::cos(max_lat * std::numbers::pi / 180.0);
  std::string pgr_version;
  RouteResults routes;
  MatrixResults matrices;
  {
    PostgresConnection postgres(postgres_url, kDatabase);
    postgres.execute("CREATE EXTENSION pgrouting CASCADE");  // pgRouting 3.4 on Debian requires PostGIS
    pgr_version = PQgetvalue(postgres.execute("SELECT pgr_version()").get(), 0, 0);
    load_edges(postgres, graph, x_scale);
    const std::string edges = "'SELECT id, source, target, cost, reverse_cost FROM edges'";
    const std::string xy_edges = "'SELECT id, source, target, cost, reverse_cost, x1, y1, x2, y2 FROM edges'";
    postgres.prepare("dijkstra", "SELECT node, agg_cost FROM pgr_dijkstra(" + edges + ", $1::bigint, $2::bigint)", 2);
    postgres.prepare("astar",
                     "SELECT node, agg_cost FROM pgr_aStar(" + xy_edges +
                         ", $1::bigint, $2::bigint, heuristic => 4, factor => " + format_double(kKmPerDegree) + ")",
                     2);
    postgres.prepare(
        "matrix",
        "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost(" + edges + ", $1::bigint[], $2::bigint[])", 2);
    routes = measure_routes(planner, postgres, pairs);
    matrices = measure_matrices(planner, postgres, component, options.matrix_runs, random);
  }
  {
    PostgresConnection admin(postgres_url);
    admin.execute(std::string("DROP DATABASE ") + kDatabase);
  }

  std::printf("location_bench: %zu cities, %zu roads (graph %s); largest component %zu cities; seed %llu\n",
              graph.node_count(), graph.edge_count(), geography->graph_source.c_str(), component.size(),
              static_cast<unsigned long long>(options.seed));
  std::printf(
      "\n(a) route queries, %zu random city pairs (same pairs for every row); pgRouting %s on PostgreSQL,\n"
      "    one prepared statement per query on one connection, client-side time, all path rows fetched\n",
      pairs.size(), pgr_version.c_str());
  print_latency_header();
  print_latency_row("ours: RoadGraph::shortest_path (A*)", routes.ours_astar);
  print_latency_row("ours: RoadGraph::costs_from (Dijkstra, 1 target)", routes.ours_dijkstra);
  print_latency_row("ours: RoutePlanner::plan (2 cities, full route)", routes.ours_plan);
  print_latency_row("pgRouting: pgr_aStar (heuristic 4)", routes.pg_astar);
  print_latency_row("pgRouting: pgr_dijkstra", routes.pg_dijkstra);
  std::printf("  distances pgRouting vs ours: %zu of %zu differ by more than 1e-9 relative\n", routes.mismatches,
              2 * pairs.size());

  std::printf("\n(b) 100 x 100 distance matrix between random cities, %d runs (after one warm-up run)\n",
              options.matrix_runs);
  std::printf("  %-50s %8s %10s %10s %10s\n", "", "cells", "p50 ms", "max ms", "mean ms");
  std::printf("  %-50s %8zu %10.2f %10.2f %10.2f\n", "ours: RoutePlanner::matrix", matrices.ours_cells,
              matrices.ours.percentile(0.5) / 1000, matrices.ours.percentile(1.0) / 1000,
              matrices.ours.total_us() / 1000 / static_cast<double>(matrices.ours.us.size()));
  std::printf("  %-50s %8zu %10.2f %10.2f %10.2f\n", "pgRouting: pgr_dijkstraCost (many to many)", matrices.pg_cells,
              matrices.pg.percentile(0.5) / 1000, matrices.pg.percentile(1.0) / 1000,
              matrices.pg.total_us() / 1000 / static_cast<double>(matrices.pg.us.size()));
  std::printf("  (pgr_dijkstraCost leaves out pairs of a city with itself; ours counts them, at 0 km)\n");
  std::fflush(stdout);

  // (c)
  std::vector<Distribution> distributions;
  {
    std::mt19937_64 drivers_random(options.seed + 1);
    std::mt19937_64 queries_random(options.seed + 2);
    distributions.push_back({"spread over India", points_on_land(geography->states, options.drivers, drivers_random),
                             points_on_land(geography->states, options.nearby_queries, queries_random)});
    distributions.push_back({"dense, 0.6 x 0.6 deg around Delhi", points_around_delhi(options.drivers, drivers_random),
                             points_around_delhi(options.nearby_queries, queries_random)});
  }
  cache::CacheOptions cache_options;
  cache_options.redis_pool_size = 1;  // one client, one connection
  auto redis = std::make_shared<cache::RedisCache>(cache::parse_cache_url(redis_url).redis, cache_options);
  if (auto reason = redis->unavailable_reason()) throw std::runtime_error("Redis at " + redis_url + ": " + *reason);
  const auto recorded_at = geo::stored_precision(geo::Clock::now());

  std::printf("\n(c) nearest %zu drivers within %.0f km among %zu drivers, %zu queries per row, one client thread\n",
              kNearestLimit, kNearbyRadiusKm, options.drivers, options.nearby_queries);
  std::printf(
      "    (load/s: writing the drivers first; memory and Redis adapters one upsert per driver, raw GEOADD\n"
      "    1000 members per command)\n");
  double raw_ratio[2] = {0, 0};
  double adapter_ratio[2] = {0, 0};
  for (std::size_t d = 0; d < distributions.size(); ++d) {
    const auto& distribution = distributions[d];
    std::printf("  %-50s %10s %10s %10s %10s %12s\n", distribution.name.c_str(), "queries/s", "p50 us", "p99 us",
                "mean hits", "load/s");
    auto memory = geo::make_memory_positions(geo::PositionsOptions{});
    const auto memory_timings = measure_adapter(*memory, distribution, recorded_at);
    memory.reset();
    print_nearby_row("ours: memory adapter (in process)", memory_timings);

    const std::string prefix = kRedisKeyPrefix + std::to_string(d) + ":";
    const std::vector<std::string> adapter_keys{prefix + "positions:geo", prefix + "positions:data",
                                                prefix + "positions:recorded_at"};
    const std::string raw_key = prefix + "raw";
    delete_keys(*redis, {adapter_keys[0], adapter_keys[1], adapter_keys[2], raw_key});
    geo::PositionsOptions redis_options;
    redis_options.key_prefix = prefix;
    auto redis_positions = geo::make_redis_positions(redis, redis_options);
    const auto redis_timings = measure_adapter(*redis_positions, distribution, recorded_at);
    print_nearby_row("ours: Redis adapter (Lua GEOSEARCH + records)", redis_timings);
    const auto raw_timings = measure_raw_geosearch(*redis, raw_key, distribution);
    print_nearby_row("Redis: raw GEOSEARCH ASC COUNT 20 WITHDIST", raw_timings);
    delete_keys(*redis, {adapter_keys[0], adapter_keys[1], adapter_keys[2], raw_key});
    raw_ratio[d] = memory_timings.query.per_second() / raw_timings.query.per_second();
    adapter_ratio[d] = memory_timings.query.per_second() / redis_timings.query.per_second();
    std::fflush(stdout);
  }

  const double astar_p99 = routes.ours_astar.percentile(0.99);
  const double plan_p99 = routes.ours_plan.percentile(0.99);
  std::printf("\ntargets (issue 7):\n");
  std::printf("  route p99 < 1 ms in process: plan %.3f ms, A* %.3f ms: %s\n", plan_p99 / 1000, astar_p99 / 1000,
              verdict(plan_p99 < 1000));
  // A route query is answered with A* (RoutePlanner::plan); pgRouting's baseline is the faster of its two.
  const double pg_p50 = std::min(routes.pg_astar.percentile(0.5), routes.pg_dijkstra.percentile(0.5));
  const double pg_p99 = std::min(routes.pg_astar.percentile(0.99), routes.pg_dijkstra.percentile(0.99));
  const double astar_ratio_p50 = pg_p50 / routes.ours_astar.percentile(0.5);
  const double astar_ratio_p99 = pg_p99 / astar_p99;
  const double plan_ratio_p50 = pg_p50 / routes.ours_plan.percentile(0.5);
  const double plan_ratio_p99 = pg_p99 / plan_p99;
  std::printf(
      "  >= 10x faster than pgRouting (the faster of pgr_aStar and pgr_dijkstra): A* %.0fx (p50) %.0fx (p99), "
      "whole route (plan) %.0fx (p50) %.0fx (p99): %s\n",
      astar_ratio_p50, astar_ratio_p99, plan_ratio_p50, plan_ratio_p99,
      verdict(std::min({astar_ratio_p50, astar_ratio_p99, plan_ratio_p50, plan_ratio_p99}) >= 10));
  std::printf("    (like for like, Dijkstra vs pgr_dijkstra: %.0fx (p50) %.0fx (p99))\n",
              routes.pg_dijkstra.percentile(0.5) / routes.ours_dijkstra.percentile(0.5),
              routes.pg_dijkstra.percentile(0.99) / routes.ours_dijkstra.percentile(0.99));
  std::printf("  nearest-driver >= 5x raw Redis GEOSEARCH throughput (memory adapter): spread %.1fx, dense %.1fx: %s\n",
              raw_ratio[0], raw_ratio[1], verdict(std::min(raw_ratio[0], raw_ratio[1]) >= 5));
  // Raw GEOSEARCH reads every point within the radius, thousands in the dense case; the Redis adapter's growing
  // radius is the best Redis does for the same answer, so the ratio to it is the stricter one.
  std::printf("    (memory adapter vs our Redis adapter, growing radius: spread %.1fx, dense %.1fx)\n",
              adapter_ratio[0], adapter_ratio[1]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Location service benchmark: routes and matrices vs pgRouting, nearest drivers vs Redis GEOSEARCH"};
  Options options;
  app.add_option("--postgres-url", options.postgres_url,
                 "PostgreSQL with pgRouting installed, as a libpq URI (default: start a postgres on a free port)");
  app.add_option("--redis-url", options.redis_url, "Redis to measure (default: start a redis-server on a free port)");
  app.add_option("--route-queries", options.route_queries, "city pairs routed by each row of (a)")
      ->check(CLI::PositiveNumber);
  app.add_option("--matrix-runs", options.matrix_runs, "100 x 100 matrices timed in (b)")->check(CLI::PositiveNumber);
  app.add_option("--drivers", options.drivers, "drivers indexed in (c)")->check(CLI::PositiveNumber);
  app.add_option("--nearby-queries", options.nearby_queries, "queries per row of (c)")->check(CLI::PositiveNumber);
  app.add_option("--seed", options.seed, "seed of the city pairs, drivers and query points");
  CLI11_PARSE(app, argc, argv);

  log::Options log_options;
  log_options.level = "warn";  // the geography's start-up line would interleave with the tables
  log::init(log_options);
  try {
    run(options);
  } catch (const std::exception& error) {
    std::cerr << "location_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
