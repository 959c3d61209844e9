DROP INDEX IF EXISTS decisions_one_act_per_person;
CREATE UNIQUE INDEX decisions_one_act_per_person ON decisions (payment_id, actor_id) WHERE outcome = 'applied';
DROP INDEX IF EXISTS payments_authorized;
DROP TABLE IF EXISTS status_reports, batch_payments, batches, cutoff_runs;
