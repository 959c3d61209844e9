DROP TABLE IF EXISTS admin_changes;
-- The two roles go with the table: a user left without any role keeps none
-- of the approval flow's (the column allows an empty array).
UPDATE users SET roles = array_remove(array_remove(roles, 'admin'), 'operator')
    WHERE roles && ARRAY['admin', 'operator']::text[];
ALTER TABLE users DROP CONSTRAINT users_roles_check;
ALTER TABLE users ADD CONSTRAINT users_roles_check
    CHECK (roles <@ ARRAY['applicant', 'reviewer', 'authorizer']::text[]);
