ALTER TABLE customers DROP COLUMN review_otp;
