// Geometry on the Earth's surface shared by the location service's domain: points, great-circle
// distances and the encoded-polyline format. Pure functions, no I/O.
#pragma once

#include <span>
#include <string>

namespace intercab::location {

// A point in WGS 84 degrees.
struct LatLon {
  double lat = 0;
  double lon = 0;
  friend bool operator==(const LatLon&, const LatLon&) = default;
};

// Mean Earth radius (IUGG), the one every distance here uses.
inline constexpr double kEarthRadiusKm = 6371.0088;

// True for finite latitude in [-90, 90] and longitude in [-180, 180].
bool is_valid(LatLon point);

// Great-circle (haversine) distance in kilometres.
double great_circle_km(LatLon a, LatLon b);

// The point a `fraction` (0..1) of the way from `a` to `b` along the great circle.
LatLon interpolate(LatLon a, LatLon b, double fraction);

// Google's encoded polyline algorithm format at precision 5 (1e-5 degrees).
std::string encode_polyline(std::span<const LatLon> points);

}  // namespace intercab::location
