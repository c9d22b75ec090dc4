-- Triggers differ between the dialects, so this version has a file for each.
CREATE TABLE widget_audit (
  widget_id BIGINT NOT NULL,
  recorded_by TEXT NOT NULL
);
CREATE FUNCTION widgets_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO widget_audit (widget_id, recorded_by) VALUES (NEW.id, 'postgres trigger');
  RETURN NEW;
END;
$$;
CREATE TRIGGER widgets_audit_insert AFTER INSERT ON widgets
  FOR EACH ROW EXECUTE FUNCTION widgets_audit_insert();
