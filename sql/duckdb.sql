-- pseudolink tokens in DuckDB: the same token as `pseudolink tokenise`,
-- byte for byte (docs/SPEC.md sections 1 and 3). Tested by
-- python/tests/test_sql.py against docs/vectors.json and the command line.
--
-- DuckDB has no HMAC function, but it has SHA-256 over BLOBs, so HMAC is
-- built from its definition (RFC 2104): H((K xor opad) || H((K xor ipad) || m)).
-- Any key the command line accepts: at least 32 bytes, as an even number
-- of hex digits (pseudolink keygen makes 32); longer than 64 bytes is
-- hashed first, as RFC 2104 says. Anything else raises an error.
--
-- The NHS number column may be text or an integer type (BIGINT, as
-- read_csv detects, or DECIMAL(p,0)). A FLOAT or DOUBLE column, or a
-- DECIMAL with places, raises an error: its values may have been rounded
-- into another person's number. Read the column as text instead:
--     read_csv('referrals.csv', types={'nhs_number': 'VARCHAR'})
--
-- THE KEY: never write it into this file, a notebook or a query's text.
-- Read it from the key file at run time into a prepared statement's
-- parameter, e.g. in Python:
--     hex = next(l.strip() for l in open("team.key") if l.strip() and not l.startswith("#"))
--     con.execute("SET VARIABLE pseudolink_key = ?", [hex])
-- and drop the variable when done (RESET VARIABLE pseudolink_key).

-- A cell as text, refusing column types that may have rounded the number.
CREATE OR REPLACE MACRO pseudolink_cell_text(cell) AS (
  CASE WHEN typeof(cell) IN ('FLOAT', 'DOUBLE')
            OR (typeof(cell) LIKE 'DECIMAL(%' AND typeof(cell) NOT LIKE '%,0)')
       THEN error('pseudolink: the NHS number column is ' || typeof(cell)
                  || ', whose values may have been rounded into another person''s number. '
                  || 'Read it as text, e.g. read_csv(..., types={''nhs_number'': ''VARCHAR''})')
       ELSE CAST(cell AS VARCHAR) END
);

-- Step 1-4 of SPEC section 1: the canonical ten digits, or NULL when the
-- cell is not a valid NHS number (use `pseudolink validate` for reasons).
CREATE OR REPLACE MACRO pseudolink_canonical(cell) AS (
  WITH s AS (
    SELECT trim(regexp_replace(coalesce(pseudolink_cell_text(cell), ''), '[\x{200B}\x{200C}\x{200D}\x{2060}\x{FEFF}]', '', 'g'),
                ' \t\n\r' || chr(11) || chr(12) || chr(133) || chr(160) || chr(5760) || chr(8192) || chr(8193) ||
                chr(8194) || chr(8195) || chr(8196) || chr(8197) || chr(8198) || chr(8199) || chr(8200) ||
                chr(8201) || chr(8202) || chr(8232) || chr(8233) || chr(8239) || chr(8287) || chr(12288)) AS t
  ), seps AS (
    -- Separators only ever stand between digits here: remove them all.
    SELECT CASE WHEN regexp_full_match(t, '[0-9][0-9 \x{00A0}\x{202F}\x{2010}-\x{2015}\x{2212}-]*[0-9](\.0)?')
                THEN regexp_replace(t, '[ \x{00A0}\x{202F}\x{2010}-\x{2015}\x{2212}-]', '', 'g')
                ELSE t END AS u FROM s
  ), d AS (
    SELECT CASE WHEN regexp_full_match(u, '[0-9]+\.0') THEN left(u, length(u) - 2) ELSE u END AS v FROM seps
  )
  SELECT CASE
    WHEN NOT regexp_full_match(v, '[0-9]{10}') THEN NULL
    WHEN v = repeat(left(v, 1), 10) THEN NULL
    WHEN (11 - (10 * CAST(v[1] AS INT) + 9 * CAST(v[2] AS INT) + 8 * CAST(v[3] AS INT) + 7 * CAST(v[4] AS INT)
              + 6 * CAST(v[5] AS INT) + 5 * CAST(v[6] AS INT) + 4 * CAST(v[7] AS INT) + 3 * CAST(v[8] AS INT)
              + 2 * CAST(v[9] AS INT)) % 11) % 11 <> CAST(v[10] AS INT) THEN NULL
    ELSE v END
  FROM d
);

-- The key as one 64-byte HMAC block (SPEC section 2's rules, RFC 2104's
-- padding), or an error that never quotes the key.
CREATE OR REPLACE MACRO pseudolink_key_block(key_hex) AS (
  CASE
    WHEN key_hex IS NULL OR NOT regexp_full_match(trim(CAST(key_hex AS VARCHAR)), '([0-9a-fA-F]{2}){32,}')
      THEN error('pseudolink: the key must be at least 32 bytes, written as an even number '
                 || 'of hex digits (64 or more). Read it from the key file that '
                 || '`pseudolink keygen` wrote (docs/SPEC.md section 2)')
    WHEN length(trim(key_hex)) > 128 THEN unhex(rpad(sha256(unhex(trim(key_hex))), 128, '0'))
    ELSE unhex(rpad(lower(trim(key_hex)), 128, '0'))
  END
);

-- HMAC-SHA256 of a message under a key given as hex.
CREATE OR REPLACE MACRO pseudolink_hmac_hex(key_hex, message) AS (
  WITH k AS (SELECT pseudolink_key_block(key_hex) AS key)
  SELECT sha256(xor(key::BIT, unhex(repeat('5c', 64))::BIT)::BLOB
                || unhex(sha256(xor(key::BIT, unhex(repeat('36', 64))::BIT)::BLOB || encode(message))))
  FROM k
);

-- The token of a cell, or NULL when the cell is not a valid NHS number.
CREATE OR REPLACE MACRO pseudolink_token(cell, key_hex) AS (
  CASE WHEN pseudolink_canonical(cell) IS NULL THEN NULL
       ELSE pseudolink_hmac_hex(key_hex, pseudolink_canonical(cell)) END
);

-- The key id (SPEC section 3), to read aloud and compare.
CREATE OR REPLACE MACRO pseudolink_key_id(key_hex) AS (
  left(pseudolink_hmac_hex(key_hex, 'pseudolink key id'), 16)
);
