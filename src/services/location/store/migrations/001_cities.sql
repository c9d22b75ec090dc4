-- Cities of the location service, synchronised from the city file at start-up so that every
-- instance (and reports, admin tools) sees the same catalogue in the distributed mode.
CREATE TABLE cities (
  id            BIGINT PRIMARY KEY,        -- GeoNames id
  name          TEXT NOT NULL,
  name_ascii    TEXT NOT NULL,
  state         TEXT NOT NULL,
  state_code    TEXT NOT NULL,             -- ISO 3166-2:IN
  lat           DOUBLE PRECISION NOT NULL,
  lon           DOUBLE PRECISION NOT NULL,
  population    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL            -- Unix seconds of the last change by a sync
);
CREATE INDEX cities_state_code ON cities (state_code);
