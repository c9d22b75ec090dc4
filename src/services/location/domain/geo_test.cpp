#include "services/location/domain/geo.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

namespace intercab::location {
namespace {

TEST(GreatCircle, MatchesKnownDistances) {
  // Delhi - Mumbai is about 1,150 km as the crow flies; one degree of latitude is about 111.2 km.
  EXPECT_NEAR(great_circle_km({28.651950, 77.231490}, {19.072830, 72.882610}), 1153, 5);
  EXPECT_NEAR(great_circle_km({10, 77}, {11, 77}), 111.2, 0.1);
  EXPECT_DOUBLE_EQ(great_circle_km({12.5, 77.5}, {12.5, 77.5}), 0.0);
}

TEST(GreatCircle, InterpolationStaysOnTheArc) {
  const LatLon pune{18.519570, 73.855350};
  const LatLon goa{15.498900, 73.828000};
  const LatLon middle = interpolate(pune, goa, 0.5);
  EXPECT_NEAR(great_circle_km(pune, middle), great_circle_km(pune, goa) / 2, 1e-6);
  EXPECT_NEAR(great_circle_km(middle, goa), great_circle_km(pune, goa) / 2, 1e-6);
  EXPECT_EQ(interpolate(pune, goa, 0.0), pune);
}

TEST(Polyline, EncodesGoogleReferenceExample) {
  // The example in Google's "Encoded Polyline Algorithm Format" documentation.
  const std::vector<LatLon> points{{38.5, -120.2}, {40.7, -120.95}, {43.252, -126.453}};
  EXPECT_EQ(encode_polyline(points), "_p~iF~ps|U_ulLnnqC_mqNvxq`@");
  EXPECT_EQ(encode_polyline({}), "");
}

TEST(Coordinates, RejectsOutOfRangeAndNonFinite) {
  EXPECT_TRUE(is_valid({-90, 180}));
  EXPECT_FALSE(is_valid({90.0001, 0}));
  EXPECT_FALSE(is_valid({0, -180.5}));
  EXPECT_FALSE(is_valid({std::numeric_limits<double>::quiet_NaN(), 0}));
}

}  // namespace
}  // namespace intercab::location
