-- Text search over bank movements (issue 10): pg_trgm's trigram index makes "contains" searches
-- (`LIKE '%novak%'`) use an index. An extension exists once per database, so it lives in its
-- own schema, `kasa_ext`, and tenant migrations name its operator class qualified
-- (`kasa_ext.gin_trgm_ops`); no search path ever includes it. pg_trgm is a trusted extension
-- (PostgreSQL 13+): a role with CREATE on the database may install it. Where the contrib files
-- are missing or the role may not, nothing fails: the tenant migration then builds no trigram
-- index and searches scan the account's rows (docs/decisions.md, "Bank data").
CREATE SCHEMA IF NOT EXISTS kasa_ext;
REVOKE ALL ON SCHEMA kasa_ext FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')
       AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION pg_trgm WITH SCHEMA kasa_ext;
        EXCEPTION WHEN insufficient_privilege OR feature_not_supported THEN
            RAISE NOTICE 'pg_trgm not installed (%); movement search runs without a trigram index', SQLERRM;
        END;
    END IF;
END
$$;
