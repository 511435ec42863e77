-- pseudolink tokens in PostgreSQL: the same token as `pseudolink tokenise`,
-- byte for byte (docs/SPEC.md sections 1 and 3), with pgcrypto's hmac().
-- Tested by python/tests/test_sql.py on a real server against
-- docs/vectors.json and the command line.
--
-- THE KEY stays out of query text (which pg_stat_activity and the server
-- log show). Load it once, over COPY, into pseudolink_keys, a table only
-- its owner can read; then tokenise by key id:
--     psql (Linux, macOS):
--       \copy pseudolink_keys (key_hex) FROM PROGRAM 'grep -Ev "^(#|[[:space:]]*$)" team.key'
--     Python (any system), with psycopg:
--       with con.cursor().copy("COPY pseudolink_keys (key_hex) FROM STDIN") as c:
--           c.write_row([key_hex_read_from_the_key_file])
--     then:
--       SELECT pseudolink_token_by_id(nhs_number, 'e8a99eb43869d8af') FROM referrals;
-- The key id is what `pseudolink keygen` printed; it names the key without
-- revealing it. Whoever may run pseudolink_token_by_id can make tokens of
-- any number they guess, so the script grants it to nobody: grant EXECUTE
-- only to the roles that already see raw NHS numbers.
--
-- pseudolink_token(cell, key bytea) remains for a key bound as a query
-- parameter; note that with log_statement on, the server log records bound
-- parameters too. Never SET the key as a server, database or session setting.
--
-- Keys follow SPEC section 2 (at least 32 bytes); a shorter or missing key
-- raises an error that never quotes it. The cell may be text, bigint or
-- numeric with no places; numeric with places and floating-point columns
-- are refused, as their values may have been rounded into another
-- person's number: keep NHS numbers as text.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Steps 1 to 4 of SPEC section 1: the canonical ten digits, or NULL when
-- the cell is not a valid NHS number (`pseudolink validate` gives reasons).
CREATE OR REPLACE FUNCTION pseudolink_canonical(cell text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  WITH s AS (
    -- 1. zero-width characters; 2. trim Unicode white space.
    SELECT regexp_replace(
             regexp_replace(coalesce(cell, ''), '[\u200B\u200C\u200D\u2060\uFEFF]', '', 'g'),
             '^[\s\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+|[\s\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$',
             '', 'g') AS t
  ), seps AS (
    -- 3. separators between digits.
    SELECT regexp_replace(t, '(?<=[0-9])[ \u00A0\u202F\u2010-\u2015\u2212-]+(?=[0-9])', '', 'g') AS u FROM s
  ), d AS (
    -- 4. a spreadsheet's ".0".
    SELECT CASE WHEN u ~ '^[0-9]+\.0$' THEN left(u, -2) ELSE u END AS v FROM seps
  )
  SELECT CASE
    WHEN v !~ '^[0-9]{10}$' THEN NULL
    WHEN v = repeat(left(v, 1), 10) THEN NULL
    WHEN (11 - (10 * substr(v, 1, 1)::int + 9 * substr(v, 2, 1)::int + 8 * substr(v, 3, 1)::int
              + 7 * substr(v, 4, 1)::int + 6 * substr(v, 5, 1)::int + 5 * substr(v, 6, 1)::int
              + 4 * substr(v, 7, 1)::int + 3 * substr(v, 8, 1)::int + 2 * substr(v, 9, 1)::int) % 11) % 11
         <> substr(v, 10, 1)::int THEN NULL
    ELSE v END
  FROM d
$$;

-- The key, checked against SPEC section 2; the error never quotes it.
CREATE OR REPLACE FUNCTION pseudolink_checked_key(key bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF key IS NULL OR length(key) < 32 THEN
    RAISE EXCEPTION 'pseudolink: the key must be at least 32 bytes'
      USING HINT = 'Read it from the key file that pseudolink keygen wrote (docs/SPEC.md section 2).';
  END IF;
  RETURN key;
END
$$;

-- The token of a cell, or NULL when the cell is not a valid NHS number.
CREATE OR REPLACE FUNCTION pseudolink_token(cell text, key bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT encode(hmac(convert_to(c, 'UTF8'), k, 'sha256'), 'hex')
  FROM (SELECT pseudolink_canonical(cell) AS c, pseudolink_checked_key(key) AS k) x
  WHERE c IS NOT NULL
$$;

-- Integer columns (bigint, as a warehouse's numeric(10,0) or bigint).
CREATE OR REPLACE FUNCTION pseudolink_token(cell bigint, key bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT pseudolink_token(cell::text, key)
$$;

CREATE OR REPLACE FUNCTION pseudolink_token(cell numeric, key bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF scale(cell) > 0 THEN
    RAISE EXCEPTION 'pseudolink: the NHS number column is numeric with decimal places'
      USING HINT = 'Its values may have been rounded into another person''s number: keep NHS numbers as text.';
  END IF;
  RETURN pseudolink_token(cell::text, key);
END
$$;

-- Floating-point columns are refused outright.
CREATE OR REPLACE FUNCTION pseudolink_token(cell double precision, key bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RAISE EXCEPTION 'pseudolink: the NHS number column is floating point'
    USING HINT = 'Its values may have been rounded into another person''s number: keep NHS numbers as text.';
END
$$;

-- The key id (SPEC section 3), to read aloud and compare.
CREATE OR REPLACE FUNCTION pseudolink_key_id(key bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT left(encode(hmac(convert_to('pseudolink key id', 'UTF8'), key, 'sha256'), 'hex'), 16)
$$;

-- Keys kept out of query text: loaded over COPY, readable by the owner only.
CREATE TABLE IF NOT EXISTS pseudolink_keys (
  key_id  text PRIMARY KEY,
  key_hex text NOT NULL
);
REVOKE ALL ON pseudolink_keys FROM PUBLIC;

-- Checks and names each loaded key. A bad key is not refused here: an
-- error raised while COPY reads a line quotes that line. Its row is wiped
-- and marked instead, and the statement trigger below refuses the whole
-- load once COPY has finished, with nothing quoted.
CREATE OR REPLACE FUNCTION pseudolink_keys_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.key_hex := lower(btrim(NEW.key_hex, E' \t\r\n'));
  IF NEW.key_hex IS NULL OR NEW.key_hex !~ '^([0-9a-f]{2}){32,}$' THEN
    NEW.key_hex := '';
    NEW.key_id := 'invalid ' || gen_random_uuid();
    RETURN NEW;
  END IF;
  NEW.key_id := pseudolink_key_id(decode(NEW.key_hex, 'hex'));
  IF EXISTS (SELECT 1 FROM pseudolink_keys WHERE key_id = NEW.key_id) THEN
    RETURN NULL;  -- already loaded: loading twice is harmless
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS pseudolink_keys_check ON pseudolink_keys;
CREATE TRIGGER pseudolink_keys_check BEFORE INSERT OR UPDATE ON pseudolink_keys
  FOR EACH ROW EXECUTE FUNCTION pseudolink_keys_check();

CREATE OR REPLACE FUNCTION pseudolink_keys_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pseudolink_keys WHERE key_id LIKE 'invalid %') THEN
    RAISE EXCEPTION 'pseudolink: the key must be at least 32 bytes, as an even number of hex digits'
      USING HINT = 'Load the key line of the key file that pseudolink keygen wrote (docs/SPEC.md section 2).';
  END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS pseudolink_keys_refuse ON pseudolink_keys;
CREATE TRIGGER pseudolink_keys_refuse AFTER INSERT OR UPDATE ON pseudolink_keys
  FOR EACH STATEMENT EXECUTE FUNCTION pseudolink_keys_refuse();

-- The token of a cell under a stored key, named by its key id.
CREATE OR REPLACE FUNCTION pseudolink_token_by_id(cell text, key_id text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
  k bytea;
BEGIN
  SELECT decode(p.key_hex, 'hex') INTO k FROM pseudolink_keys p WHERE p.key_id = pseudolink_token_by_id.key_id;
  IF k IS NULL THEN
    RAISE EXCEPTION 'pseudolink: no key with that key id is loaded'
      USING HINT = 'Load it into pseudolink_keys over COPY (see sql/postgres.sql), and check the key id with the provider.';
  END IF;
  RETURN pseudolink_token(cell, k);
END
$$;
REVOKE ALL ON FUNCTION pseudolink_token_by_id(text, text) FROM PUBLIC;
