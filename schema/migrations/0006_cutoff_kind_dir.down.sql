ALTER TABLE batches DROP COLUMN outbound_dir;
DROP INDEX cutoff_runs_kind;
ALTER TABLE cutoff_runs DROP COLUMN kind;
