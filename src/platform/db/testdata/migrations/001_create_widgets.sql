-- Contract-test migrations: a common file with two statements.
CREATE TABLE widgets (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE INDEX widgets_by_name ON widgets (name);
