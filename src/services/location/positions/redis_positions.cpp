// The Redis adapter: every write and every search is one Lua script, so the three keys never disagree and
// a ping costs one round trip. Redis measures GEO distances on another Earth radius and on 52-bit geohashes,
// so searches ask it for a slightly wider circle and decide with the exact great-circle distance here.
#include "services/location/positions/redis_positions.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <system_error>
#include <tuple>

namespace intercab::location {
namespace {

using cache::RedisValue;

// KEYS: geo, data, recorded_at. ARGV: driver id, lon, lat, record, recorded_at in microseconds.
// Returns {1, previous record or nothing} when written, {0, stored record} when the stored ping is as recent.
// Scores are doubles: microseconds since 1970 stay exact until the year 2255.
constexpr std::string_view kUpsertLua = R"lua(
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if previous then
  local stored_at = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1]))
  if stored_at and stored_at >= tonumber(ARGV[5]) then return {0, previous} end
end
redis.call('GEOADD', KEYS[1], ARGV[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
if previous then return {1, previous} end
return {1}
)lua";

// KEYS: geo, data. ARGV: lon, lat, radius in km, count, first radius in km. Returns id, Redis's distance,
// record for each of the `count` nearest within the radius, nearest first. GEOSEARCH costs in proportion
// to the points within its radius, even with COUNT (it sorts them all): a 5 km search in a dense city
// reads thousands. So the script starts small and doubles the radius until it has `count` hits; stopping
// early is safe because every hit left out is then further than the last one returned.
constexpr std::string_view kNearbyLua = R"lua(
local radius = tonumber(ARGV[5])
local last_radius = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local hits
while true do
  hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', radius, 'km',
                    'ASC', 'COUNT', count, 'WITHDIST')
  if #hits >= count or radius >= last_radius then break end
  radius = math.min(radius * 2, last_radius)
end
local found = {}
for _, hit in ipairs(hits) do
  found[#found + 1] = hit[1]
  found[#found + 1] = hit[2]
  found[#found + 1] = redis.call('HGET', KEYS[2], hit[1]) or ''
end
return found
)lua";

// KEYS: geo, data, recorded_at. ARGV: the first fresh microsecond, batch size. Removes up to a batch of
// stale drivers (a batch keeps each call short and within Lua's limit on unpack()); returns how many.
constexpr std::string_view kPurgeLua = R"lua(
local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
if #stale > 0 then
  redis.call('ZREM', KEYS[1], unpack(stale))
  redis.call('HDEL', KEYS[2], unpack(stale))
  redis.call('ZREM', KEYS[3], unpack(stale))
end
return #stale
)lua";

constexpr std::size_t kPurgeBatch = 500;

// Redis's GEO distances use an Earth radius of 6372.7976 km (0.03% more than ours) between the query
// point and the centre of a 52-bit geohash cell (within 0.6 m of the stored point), printed to 0.1 m.
// So redis_km <= kRedisFactor * exact_km + kRedisSlackKm, with room to spare.
constexpr double kRedisFactor = 1.001;
constexpr double kRedisSlackKm = 0.002;

// GEOSEARCH is asked for more than the limit, since some hits may be stale or just outside the exact radius.
constexpr std::size_t kMinimumBatch = 32;
// Where the script's growing radius starts: a dense city holds a few dozen drivers within a kilometre.
constexpr double kFirstRadiusKm = 1.0;
constexpr std::size_t kMaximumBatch = std::size_t{1} << 30;

std::string format_double(double value) {
  std::array<char, 32> buffer{};
  const auto written = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), written.ptr);
}

std::int64_t to_microseconds(Clock::time_point time) {
  return std::chrono::floor<std::chrono::microseconds>(time).time_since_epoch().count();
}

// The hash value of a position: "lat lon heading speed accuracy recorded_at_us", doubles in their shortest
// exact form so that they come back bit for bit.
std::string encode_record(const DriverPosition& position) {
  return format_double(position.position.lat) + ' ' + format_double(position.position.lon) + ' ' +
         format_double(position.heading_deg) + ' ' + format_double(position.speed_kmh) + ' ' +
         format_double(position.accuracy_m) + ' ' + std::to_string(to_microseconds(position.recorded_at));
}

DriverPosition decode_record(std::string_view driver_id, std::string_view record) {
  DriverPosition position;
  position.driver_id = std::string(driver_id);
  const char* cursor = record.data();
  const char* const end = record.data() + record.size();
  const auto corrupt = [&] {
    return cache::CacheError("the stored position of driver " + position.driver_id + " is corrupt: \"" +
                             std::string(record) + "\"");
  };
  const auto field = [&](auto& value, bool last) {
    const auto parsed = std::from_chars(cursor, end, value);
    if (parsed.ec != std::errc()) throw corrupt();
    cursor = parsed.ptr;
    if (last) {
      if (cursor != end) throw corrupt();
    } else {
      if (cursor == end || *cursor != ' ') throw corrupt();
      ++cursor;
    }
  };
  std::int64_t microseconds = 0;
  field(position.position.lat, false);
  field(position.position.lon, false);
  field(position.heading_deg, false);
  field(position.speed_kmh, false);
  field(position.accuracy_m, false);
  field(microseconds, true);
  position.recorded_at = Clock::time_point(std::chrono::microseconds(microseconds));
  return position;
}

const std::string& text_of(const RedisValue& value, std::string_view what) {
  if (value.type != RedisValue::Type::string) throw cache::CacheError("Redis answered " + std::string(what) + " oddly");
  return value.text;
}

double parse_distance(const std::string& text) {
  double distance = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), distance);
  if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) {
    throw cache::CacheError("Redis answered GEOSEARCH with the distance \"" + text + "\"");
  }
  return distance;
}

}  // namespace

RedisPositions::RedisPositions(std::shared_ptr<cache::RedisCache> redis, const PositionsOptions& options)
    : redis_(std::move(redis)),
      staleness_(options.staleness),
      geo_key_(options.key_prefix + "positions:geo"),
      data_key_(options.key_prefix + "positions:data"),
      recorded_at_key_(options.key_prefix + "positions:recorded_at"),
      upsert_script_(kUpsertLua),
      nearby_script_(kNearbyLua),
      purge_script_(kPurgeLua) {
  if (!redis_) throw std::invalid_argument("redis positions: no Redis connection given");
  if (options.staleness < std::chrono::seconds(1)) {
    throw std::invalid_argument("redis positions: staleness must be at least 1 s");
  }
}

UpsertResult RedisPositions::upsert(const DriverPosition& position) {
  check_driver_position(position);
  DriverPosition stored = position;
  stored.recorded_at = stored_precision(position.recorded_at);
  const auto lon = format_double(stored.position.lon);
  const auto lat = format_double(stored.position.lat);
  const auto record = encode_record(stored);
  const auto recorded_at = std::to_string(to_microseconds(stored.recorded_at));
  const std::array<std::string_view, 3> keys{geo_key_, data_key_, recorded_at_key_};
  const std::array<std::string_view, 5> arguments{stored.driver_id, lon, lat, record, recorded_at};
  const auto reply = redis_->eval(upsert_script_, keys, arguments);
  if (reply.type != RedisValue::Type::array || reply.elements.empty() || reply.elements.size() > 2 ||
      reply.elements[0].type != RedisValue::Type::integer) {
    throw cache::CacheError("Redis answered a position upsert oddly");
  }
  UpsertResult result{reply.elements[0].integer == 1, std::nullopt};
  if (reply.elements.size() == 2) {
    result.previous = decode_record(stored.driver_id, text_of(reply.elements[1], "a position upsert"));
  }
  return result;
}

std::optional<DriverPosition> RedisPositions::latest(std::string_view driver_id, Clock::time_point now) {
  const std::array<std::string_view, 3> command{"HGET", data_key_, driver_id};
  const auto reply = redis_->command(command);
  if (reply.type == RedisValue::Type::nil) return std::nullopt;
  auto position = decode_record(driver_id, text_of(reply, "HGET"));
  if (position.recorded_at < now - staleness_) return std::nullopt;
  return position;
}

std::vector<NearbyDriver> RedisPositions::nearby(LatLon center, double radius_km, std::size_t limit,
                                                 Clock::time_point now) {
  check_nearby_query(center, radius_km);
  if (limit == 0) return {};
  const auto cutoff = now - staleness_;
  const auto lon = format_double(center.lon);
  const auto lat = format_double(center.lat);
  const double search_radius_km = radius_km * kRedisFactor + kRedisSlackKm;
  const auto search_radius = format_double(search_radius_km);
  const auto first_radius = format_double(std::min(kFirstRadiusKm, search_radius_km));
  const std::array<std::string_view, 2> keys{geo_key_, data_key_};
  std::size_t batch = limit >= kMaximumBatch / 2 ? kMaximumBatch : std::max(2 * limit, kMinimumBatch);
  while (true) {
    const auto count = std::to_string(batch);
    const std::array<std::string_view, 5> arguments{lon, lat, search_radius, count, first_radius};
    const auto reply = redis_->eval(nearby_script_, keys, arguments);
    if (reply.type != RedisValue::Type::array || reply.elements.size() % 3 != 0) {
      throw cache::CacheError("Redis answered a nearby search oddly");
    }
    const std::size_t hits = reply.elements.size() / 3;
    std::vector<NearbyDriver> found;
    for (std::size_t i = 0; i < hits; ++i) {
      const auto& driver_id = text_of(reply.elements[3 * i], "GEOSEARCH");
      const auto& record = text_of(reply.elements[3 * i + 2], "GEOSEARCH");
      if (record.empty()) continue;  // cannot happen while the script writes all keys together
      const auto position = decode_record(driver_id, record);
      if (position.recorded_at < cutoff) continue;
      const double distance = great_circle_km(center, position.position);
      if (distance > radius_km) continue;
      found.push_back({driver_id, position.position, distance, position.recorded_at});
    }
    std::sort(found.begin(), found.end(), [](const NearbyDriver& a, const NearbyDriver& b) {
      return std::tie(a.distance_km, a.driver_id) < std::tie(b.distance_km, b.driver_id);
    });
    // With fewer hits than asked, the script searched the whole circle and returned everything in it.
    // Otherwise every driver it left out is at least as far, by Redis's measure, as the last hit, so
    // exactly no nearer than `complete_below`.
    const bool exhausted = hits < batch;
    const double complete_below =
        exhausted ? std::numeric_limits<double>::infinity()
                  : (parse_distance(text_of(reply.elements[3 * hits - 2], "GEOSEARCH")) - kRedisSlackKm) / kRedisFactor;
    const auto certain = static_cast<std::size_t>(std::count_if(
        found.begin(), found.end(), [&](const NearbyDriver& driver) { return driver.distance_km < complete_below; }));
    if (exhausted || certain >= limit || batch == kMaximumBatch) {
      if (found.size() > limit) found.resize(limit);
      return found;
    }
    // Too many hits were stale or outside the exact circle: ask for more.
    batch = batch >= kMaximumBatch / 4 ? kMaximumBatch : batch * 4;
  }
}

std::size_t RedisPositions::purge_stale(Clock::time_point now) {
  // Stale means recorded_at < now - staleness; stored times are whole microseconds, so the first fresh one
  // is that instant rounded up.
  const auto first_fresh =
      std::to_string(std::chrono::ceil<std::chrono::microseconds>(now - staleness_).time_since_epoch().count());
  const auto batch = std::to_string(kPurgeBatch);
  const std::array<std::string_view, 3> keys{geo_key_, data_key_, recorded_at_key_};
  const std::array<std::string_view, 2> arguments{first_fresh, batch};
  std::size_t purged = 0;
  while (true) {
    const auto reply = redis_->eval(purge_script_, keys, arguments);
    if (reply.type != RedisValue::Type::integer || reply.integer < 0) {
      throw cache::CacheError("Redis answered a purge of stale positions oddly");
    }
    purged += static_cast<std::size_t>(reply.integer);
    if (static_cast<std::size_t>(reply.integer) < kPurgeBatch) return purged;
  }
}

std::unique_ptr<DriverPositions> make_redis_positions(std::shared_ptr<cache::RedisCache> redis,
                                                      const PositionsOptions& options) {
  return std::make_unique<RedisPositions>(std::move(redis), options);
}

}  // namespace intercab::location
