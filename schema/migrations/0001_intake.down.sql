DROP TABLE IF EXISTS outbox, intake_rejects, intake_requests, payment_timeline, payments,
    upstream_customers, upstreams, users, accounts, banks, customers;
DROP FUNCTION IF EXISTS b2bpay_outbox_notify();
DROP FUNCTION IF EXISTS b2bpay_append_only();
