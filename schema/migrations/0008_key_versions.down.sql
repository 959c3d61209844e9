DROP TABLE key_versions;
