# The location service's road graph (synthetic highway network, A*, Dijkstra) and stop ordering.
intercab_library(intercab_location_routing
  SOURCES location/domain/road_graph.cpp location/domain/trip_order.cpp
  DEPS intercab_location_geo)
intercab_test(location_routing_test
  SOURCES location/domain/road_graph_test.cpp location/domain/trip_order_test.cpp location/domain/calibration_test.cpp
  DEPS intercab_location_routing LABELS unit)
