-- A ';' and a '--' inside a string literal must not end the statement.
ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey';
INSERT INTO widgets (id, name) VALUES (1, 'first; not -- a comment');
