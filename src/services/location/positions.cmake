# The live driver position index (location/positions): a port with a memory and a Redis GEO adapter.
intercab_library(intercab_location_positions
  SOURCES location/positions/memory_positions.cpp location/positions/redis_positions.cpp
  DEPS intercab_location_geo intercab_cache)
intercab_test(location_positions_contract_test SOURCES location/positions/positions_contract_test.cpp
  DEPS intercab_location_positions intercab_test_support Threads::Threads LABELS contract TIMEOUT 300)
intercab_test(location_memory_positions_test SOURCES location/positions/memory_positions_test.cpp
  DEPS intercab_location_positions Threads::Threads LABELS unit TIMEOUT 300)
