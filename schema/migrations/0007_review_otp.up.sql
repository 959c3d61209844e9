-- A customer's policy for the review stage: an approval at review needs a
-- one-time password, as confirmation and authorization do, unless the
-- customer turned it off (`b2bpay customer review-otp ID off`).
ALTER TABLE customers ADD COLUMN review_otp boolean NOT NULL DEFAULT true;
