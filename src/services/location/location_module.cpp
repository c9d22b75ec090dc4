// Registration of the location service: loads the geography (cities, state polygons, the road
// graph) once, synchronises the cities into its database, picks the live-position index that
// matches the process cache (memory or Redis GEO) and adds the API routes.
#include "services/location/location_module.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "platform/cache/redis_cache.hpp"
#include "platform/log/log.hpp"
#include "platform/service/token_keys.hpp"
#include "services/location/api/location_api.hpp"
#include "services/location/store/location_store.hpp"

namespace intercab::embedded {
std::string_view location_openapi_yaml();
std::string_view location_cities_csv();
std::string_view location_states_geojson();
}  // namespace intercab::embedded

namespace intercab::services::location {
namespace {

namespace geo = intercab::location;

std::string read_file(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the " + std::string(what) + " file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The configured file, or the copy compiled into the binary.
std::string data_text(const std::filesystem::path& configured, std::string_view embedded, std::string_view what) {
  return configured.empty() ? std::string(embedded) : read_file(configured, what);
}

// FNV-1a over the data texts, in hex: cheap, stable across processes and builds (std::hash is not).
std::string fingerprint(std::initializer_list<std::string_view> texts) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const auto text : texts) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
    hash ^= 0xff;  // separates the texts
    hash *= 1099511628211ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

}  // namespace

std::shared_ptr<const Geography> load_geography(const config::LocationSettings& settings) {
  const auto started = std::chrono::steady_clock::now();
  const auto cities_text = data_text(settings.cities_file, embedded::location_cities_csv(), "cities");
  const auto states_text = data_text(settings.states_file, embedded::location_states_geojson(), "states");
  const auto edges_text =
      settings.road_edges_file.empty() ? std::string() : read_file(settings.road_edges_file, "road edges");
  std::shared_ptr<Geography> geography;
  try {
    geography = std::make_shared<Geography>(geo::CityCatalog::parse_csv(cities_text),
                                            geo::StateMap::parse_geojson(states_text));
  } catch (const std::invalid_argument& error) {
    throw std::runtime_error(std::string("location data: ") + error.what());
  }
  std::vector<geo::GraphNode> nodes;
  nodes.reserve(geography->cities.all().size());
  for (const auto& city : geography->cities.all()) nodes.push_back({city.id, city.position, city.population});
  geo::RoadGraph graph;
  if (edges_text.empty()) {
    graph = geo::RoadGraph::build_synthetic(nodes);
    geography->graph_source = "synthetic";
  } else {
    try {
      graph = geo::RoadGraph::from_edge_list(nodes, edges_text);
    } catch (const std::invalid_argument& error) {
      throw std::runtime_error("location.road_edges_file " + settings.road_edges_file.string() + ": " + error.what());
    }
    geography->graph_source = "edge list";
  }
  geography->data_version = fingerprint({cities_text, states_text, edges_text});
  const auto roads = graph.edge_count();
  geography->planner = std::make_unique<geo::RoutePlanner>(geography->cities, geography->states, std::move(graph));
  log::info(
      "location geography loaded",
      {{"cities", geography->cities.all().size()},
       {"states", geography->states.states().size()},
       {"roads", roads},
       {"graph", geography->graph_source},
       {"ms",
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()}});
  return geography;
}

namespace {

std::shared_ptr<geo::DriverPositions> open_positions(const config::Config& config, cache::Cache& cache) {
  geo::PositionsOptions options;
  options.staleness = std::chrono::seconds(config.location.position_staleness_s);
  if (auto* redis = dynamic_cast<cache::RedisCache*>(&cache)) {
    // The process owns the cache and outlives the service: share it without owning it.
    return geo::make_redis_positions(std::shared_ptr<cache::RedisCache>(std::shared_ptr<void>(), redis), options);
  }
  return geo::make_memory_positions(options);
}

// One geography per process: every service instance of the process (and tests starting several
// in one process) shares the parsed data and the graph.
std::shared_ptr<const Geography> shared_geography(const config::LocationSettings& settings) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Geography>> loaded;
  const auto key =
      settings.cities_file.string() + "|" + settings.states_file.string() + "|" + settings.road_edges_file.string();
  std::lock_guard lock(mutex);
  auto& geography = loaded[key];
  if (!geography) geography = load_geography(settings);
  return geography;
}

}  // namespace

void setup(service::ServiceBuilder& builder) {
  builder.set_openapi_yaml(embedded::location_openapi_yaml());
  const auto* config = builder.environment().config;
  if (config == nullptr) throw std::logic_error("the location service needs the process configuration");
  const auto& infrastructure = builder.infrastructure();
  if (infrastructure.store == nullptr || infrastructure.cache == nullptr) {
    throw std::logic_error("the location service needs its database and the cache");
  }
  LocationApiDependencies dependencies;
  dependencies.geography = shared_geography(config->location);
  const auto sync = store::sync_cities(*infrastructure.store, dependencies.geography->cities.all());
  if (sync.inserted + sync.updated > 0) {
    log::info("cities synchronised", {{"inserted", sync.inserted}, {"updated", sync.updated}});
  }
  dependencies.positions = open_positions(*config, *infrastructure.cache);
  dependencies.store = infrastructure.store;
  dependencies.cache = infrastructure.cache;
  dependencies.access_keys = service::access_token_keys(*config, /*need_signing_key=*/false);
  dependencies.internal_keys = service::internal_token_keys(*config);
  dependencies.issuer = config->auth.issuer;
  dependencies.audience = config->auth.audience;
  dependencies.internal_issuer = service::internal_token_issuer(*config);
  dependencies.settings = config->location;
  dependencies.metrics = &builder.metrics();
  LocationApi(std::move(dependencies)).add_routes(builder.router());
  for (const auto* capability : {"cities.search", "geocode.forward", "geocode.reverse", "routes.plan", "routes.matrix",
                                 "routes.states_crossed", "locations.ingest", "locations.nearby", "locations.stream"}) {
    builder.add_capability(capability);
  }
}

std::span<const db::MigrationFile> migrations() { return store::migrations(); }

}  // namespace intercab::services::location
