# The state map: which state/UT contains a point and the km of a path in each (see location/domain/states.hpp).
intercab_library(intercab_location_states SOURCES location/domain/states.cpp DEPS intercab_location_geo Boost::json)
intercab_test(location_states_test SOURCES location/domain/states_test.cpp DEPS intercab_location_states LABELS unit)
