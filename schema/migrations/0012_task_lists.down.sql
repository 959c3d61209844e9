DROP INDEX IF EXISTS payments_confirmation_tasks;
DROP INDEX IF EXISTS payments_tasks;
