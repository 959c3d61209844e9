DROP TRIGGER IF EXISTS upstreams_id_safe ON upstreams;
DROP FUNCTION IF EXISTS upstreams_id_safe();
