DROP INDEX IF EXISTS decisions_batch;
ALTER TABLE decisions DROP COLUMN IF EXISTS batch_id;
DROP TABLE IF EXISTS decision_batches;
DROP TABLE IF EXISTS batch_total_caps;
ALTER TABLE users DROP COLUMN IF EXISTS batch_max_items;
ALTER TABLE customers DROP COLUMN IF EXISTS batch_max_items;
