-- Due cutoffs are the scheduled instants without a run, not everything
-- after the latest run: a run records who started it, the scheduler
-- ('scheduled') or an operator ('manual', at any instant), so that a manual
-- run neither hides the scheduled cutoffs around it nor sets the horizon
-- the scheduler catches up from. The runs before this migration were all
-- taken as the horizon; they stay 'scheduled'.
ALTER TABLE cutoff_runs ADD COLUMN kind text NOT NULL DEFAULT 'scheduled' CHECK (kind IN ('scheduled', 'manual'));
ALTER TABLE cutoff_runs ALTER COLUMN kind DROP DEFAULT;
CREATE INDEX cutoff_runs_kind ON cutoff_runs (kind, cutoff_at);

-- The outbound directory a batch's file goes to (absolute, cleaned), set at
-- the claim: an exporter configured with another directory refuses to
-- write it rather than deliver a second copy elsewhere. NULL for batches
-- claimed before this migration (any exporter may write them).
ALTER TABLE batches ADD COLUMN outbound_dir text;
