-- A person's task list (GET /v1/tasks, issue 13): the payments waiting at a
-- stage, most urgent first (execution date, which decides the cutoff that
-- takes the payment; then updated_at, which decides its expiry; then id,
-- its age), read a page at a time by keyset on those three columns.
-- Partial indexes keep only the waiting payments, a small share of the
-- table once payments are exported, settled or ended.
--
-- Review and authorization: a customer's payments at one stage.
CREATE INDEX payments_tasks ON payments (customer_id, state, execution_date, updated_at, id)
    WHERE state IN ('awaiting_review', 'awaiting_authorization');
-- Confirmation: the applicant's own payments.
CREATE INDEX payments_confirmation_tasks ON payments (applicant_id, execution_date, updated_at, id)
    WHERE state = 'awaiting_confirmation';
