// Great-circle geometry and the encoded-polyline format.
#include "services/location/domain/geo.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace intercab::location {
namespace {

constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;

void append_encoded_signed(std::string& out, std::int64_t value) {
  // Zig-zag the sign into the lowest bit, then emit 5-bit chunks, low first, offset by 63.
  std::uint64_t bits = static_cast<std::uint64_t>(value) << 1U;
  if (value < 0) bits = ~bits;
  while (bits >= 0x20U) {
    out.push_back(static_cast<char>((0x20U | (bits & 0x1FU)) + 63U));
    bits >>= 5U;
  }
  out.push_back(static_cast<char>(bits + 63U));
}

}  // namespace

bool is_valid(LatLon point) {
  return std::isfinite(point.lat) && std::isfinite(point.lon) && point.lat >= -90.0 && point.lat <= 90.0 &&
         point.lon >= -180.0 && point.lon <= 180.0;
}

double great_circle_km(LatLon a, LatLon b) {
  const double lat1 = a.lat * kRadiansPerDegree;
  const double lat2 = b.lat * kRadiansPerDegree;
  const double half_dlat = (b.lat - a.lat) * kRadiansPerDegree / 2.0;
  const double half_dlon = (b.lon - a.lon) * kRadiansPerDegree / 2.0;
  const double h = std::sin(half_dlat) * std::sin(half_dlat) +
                   std::cos(lat1) * std::cos(lat2) * std::sin(half_dlon) * std::sin(half_dlon);
  return 2.0 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(h)));
}

LatLon interpolate(LatLon a, LatLon b, double fraction) {
  const double lat1 = a.lat * kRadiansPerDegree;
  const double lon1 = a.lon * kRadiansPerDegree;
  const double lat2 = b.lat * kRadiansPerDegree;
  const double lon2 = b.lon * kRadiansPerDegree;
  if (fraction <= 0.0) return a;
  if (fraction >= 1.0) return b;
  const double angle = great_circle_km(a, b) / kEarthRadiusKm;
  if (angle < 1e-12) return a;
  const double weight_a = std::sin((1.0 - fraction) * angle) / std::sin(angle);
  const double weight_b = std::sin(fraction * angle) / std::sin(angle);
  const double x = weight_a * std::cos(lat1) * std::cos(lon1) + weight_b * std::cos(lat2) * std::cos(lon2);
  const double y = weight_a * std::cos(lat1) * std::sin(lon1) + weight_b * std::cos(lat2) * std::sin(lon2);
  const double z = weight_a * std::sin(lat1) + weight_b * std::sin(lat2);
  return {std::atan2(z, std::sqrt(x * x + y * y)) / kRadiansPerDegree, std::atan2(y, x) / kRadiansPerDegree};
}

std::string encode_polyline(std::span<const LatLon> points) {
  std::string out;
  out.reserve(points.size() * 8);
  std::int64_t previous_lat = 0;
  std::int64_t previous_lon = 0;
  for (const LatLon& point : points) {
    const auto lat = static_cast<std::int64_t>(std::llround(point.lat * 1e5));
    const auto lon = static_cast<std::int64_t>(std::llround(point.lon * 1e5));
    append_encoded_signed(out, lat - previous_lat);
    append_encoded_signed(out, lon - previous_lon);
    previous_lat = lat;
    previous_lon = lon;
  }
  return out;
}

}  // namespace intercab::location
