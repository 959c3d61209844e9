-- Upstream ids name queues and routing keys: 1-64 letters, digits, _ or -
-- (no '.', '*' or '#', which AMQP topic bindings read as separators and
-- wildcards). Checked on every new or renamed id, also for rows written
-- with SQL; ids registered before this rule stay readable (serve refuses
-- to start while such an id is active: deactivate it and register the
-- system again under a new id).
CREATE FUNCTION upstreams_id_safe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id !~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' THEN
        RAISE EXCEPTION 'upstream id "%" is not 1-64 letters, digits, _ or - (no . * #)', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER upstreams_id_safe BEFORE INSERT OR UPDATE OF id ON upstreams
    FOR EACH ROW EXECUTE FUNCTION upstreams_id_safe();
