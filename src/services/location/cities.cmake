# The city catalog of the location service (issue 7): autocomplete, geocoding and nearest city over the
# GeoNames extract in data/india_cities.csv.
intercab_library(intercab_location_cities SOURCES location/domain/cities.cpp DEPS intercab_location_geo)
intercab_test(location_cities_test SOURCES location/domain/cities_test.cpp DEPS intercab_location_cities LABELS unit)
