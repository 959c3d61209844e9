DROP TABLE IF EXISTS recon_entries;
DROP TABLE IF EXISTS recon_files;
DROP INDEX IF EXISTS payments_order_ref;
