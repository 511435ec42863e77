-- pseudolink tokens in PostgreSQL: the same token as `pseudolink tokenise`,
-- byte for byte (docs/SPEC.md sections 1 and 3), with pgcrypto's hmac().
-- Tested by python/tests/test_sql.py on a real server against
-- docs/vectors.json and the command line.
--
-- THE KEY: never write it into this file, a query or a notebook. Pass it
-- as a parameter read from the key file at run time, for example in psql:
--     \set key_hex `grep -v '^#' team.key | tr -d '[:space:]'`
--     SELECT pseudolink_token(nhs_number, decode(:'key_hex', 'hex')) FROM referrals;
-- or as a bound parameter from Python (psycopg: %s with the hex string).
-- Do not SET it as a server or database setting, where other sessions and
-- logs could see it.

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

-- The token of a cell, or NULL when the cell is not a valid NHS number.
CREATE OR REPLACE FUNCTION pseudolink_token(cell text, key bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT encode(hmac(convert_to(c, 'UTF8'), key, 'sha256'), 'hex')
  FROM (SELECT pseudolink_canonical(cell) AS c) x
  WHERE c IS NOT NULL
$$;

-- The key id (SPEC section 3), to read aloud and compare.
CREATE OR REPLACE FUNCTION pseudolink_key_id(key bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT left(encode(hmac(convert_to('pseudolink key id', 'UTF8'), key, 'sha256'), 'hex'), 16)
$$;
