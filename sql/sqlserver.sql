-- pseudolink tokens in SQL Server (T-SQL, HASHBYTES).
--
-- NOT RUN HERE: no SQL Server engine can be installed on the machines this
-- project is built and tested on. The DuckDB and PostgreSQL recipes beside
-- it are tested against docs/vectors.json and the command line; this one
-- follows the same steps and RFC 2104's definition of HMAC. Before using
-- it, check it yourself against docs/vectors.json: with the SPEC key,
--   SELECT dbo.pseudolink_token(N'943 476 5919', 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f)
-- must return dd5c602eeb31d60c7c0d662c897231dda00e13cdf945b14cad185a4a7125826c,
-- and dbo.pseudolink_key_id(that key) e8a99eb43869d8af.
--
-- THE KEY: never write it into this file, a stored procedure, a job step or
-- a notebook. Pass it as a parameter (varbinary(64)) read at run time, for
-- example from a credential in Azure Key Vault or a file readable only by
-- the service account, and do not log it. Keys of up to 64 bytes.

CREATE OR ALTER FUNCTION dbo.pseudolink_canonical (@cell nvarchar(4000))
RETURNS char(10)
WITH SCHEMABINDING
AS
BEGIN
    DECLARE @s nvarchar(4000) = ISNULL(@cell, N'');
    -- 1. zero-width characters.
    SET @s = REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(@s,
        NCHAR(0x200B), N''), NCHAR(0x200C), N''), NCHAR(0x200D), N''), NCHAR(0x2060), N''), NCHAR(0xFEFF), N'');
    -- 2. trim white space (TRIM with the Unicode white space characters).
    SET @s = TRIM(CONCAT(N' ', NCHAR(9), NCHAR(10), NCHAR(11), NCHAR(12), NCHAR(13), NCHAR(0x85), NCHAR(0xA0),
        NCHAR(0x1680), NCHAR(0x2000), NCHAR(0x2001), NCHAR(0x2002), NCHAR(0x2003), NCHAR(0x2004), NCHAR(0x2005),
        NCHAR(0x2006), NCHAR(0x2007), NCHAR(0x2008), NCHAR(0x2009), NCHAR(0x200A), NCHAR(0x2028), NCHAR(0x2029),
        NCHAR(0x202F), NCHAR(0x205F), NCHAR(0x3000)) FROM @s);
    -- 3. separators between digits: when the cell is digits and separators
    --    only (with an optional ".0"), every separator is between digits.
    DECLARE @body nvarchar(4000) = CASE WHEN RIGHT(@s, 2) = N'.0' THEN LEFT(@s, LEN(@s) - 2) ELSE @s END;
    IF LEN(@body) >= 2 AND LEFT(@body, 1) LIKE N'[0-9]' AND RIGHT(@body, 1) LIKE N'[0-9]'
       AND @body NOT LIKE N'%[^0-9 ' + NCHAR(0xA0) + NCHAR(0x202F) + NCHAR(0x2010) + NCHAR(0x2011) + NCHAR(0x2012)
                 + NCHAR(0x2013) + NCHAR(0x2014) + NCHAR(0x2015) + NCHAR(0x2212) + N'-]%'
    BEGIN
        SET @s = REPLACE(@s, N' ', N'');
        SET @s = REPLACE(REPLACE(REPLACE(@s, NCHAR(0xA0), N''), NCHAR(0x202F), N''), N'-', N'');
        SET @s = REPLACE(REPLACE(REPLACE(REPLACE(@s, NCHAR(0x2010), N''), NCHAR(0x2011), N''), NCHAR(0x2012), N''), NCHAR(0x2013), N'');
        SET @s = REPLACE(REPLACE(REPLACE(@s, NCHAR(0x2014), N''), NCHAR(0x2015), N''), NCHAR(0x2212), N'');
    END;
    -- 4. a spreadsheet's ".0".
    IF RIGHT(@s, 2) = N'.0' AND LEN(@s) > 2 AND LEFT(@s, LEN(@s) - 2) NOT LIKE N'%[^0-9]%'
        SET @s = LEFT(@s, LEN(@s) - 2);
    IF LEN(@s) <> 10 OR @s LIKE N'%[^0-9]%' OR @s = REPLICATE(LEFT(@s, 1), 10)
        RETURN NULL;
    DECLARE @sum int = 0, @i int = 1;
    WHILE @i <= 9
    BEGIN
        SET @sum += (11 - @i) * CAST(SUBSTRING(@s, @i, 1) AS int);
        SET @i += 1;
    END;
    IF (11 - @sum % 11) % 11 <> CAST(SUBSTRING(@s, 10, 1) AS int)
        RETURN NULL;
    RETURN CAST(@s AS char(10));
END;
GO

-- HMAC-SHA256 (RFC 2104) of a message under a key of at most 64 bytes.
CREATE OR ALTER FUNCTION dbo.pseudolink_hmac (@key varbinary(64), @message varbinary(max))
RETURNS binary(32)
WITH SCHEMABINDING
AS
BEGIN
    DECLARE @k binary(64) = CAST(@key AS binary(64));   -- zero-padded
    DECLARE @ipad varbinary(64) = 0x, @opad varbinary(64) = 0x, @i int = 1, @b int;
    WHILE @i <= 64
    BEGIN
        SET @b = CAST(SUBSTRING(@k, @i, 1) AS int);
        SET @ipad += CAST(@b ^ 0x36 AS binary(1));
        SET @opad += CAST(@b ^ 0x5C AS binary(1));
        SET @i += 1;
    END;
    RETURN HASHBYTES('SHA2_256', @opad + HASHBYTES('SHA2_256', @ipad + @message));
END;
GO

-- The token of a cell (lowercase hex), or NULL when it is not a valid NHS number.
CREATE OR ALTER FUNCTION dbo.pseudolink_token (@cell nvarchar(4000), @key varbinary(64))
RETURNS char(64)
WITH SCHEMABINDING
AS
BEGIN
    DECLARE @c char(10) = dbo.pseudolink_canonical(@cell);
    IF @c IS NULL RETURN NULL;
    RETURN LOWER(CONVERT(char(64), dbo.pseudolink_hmac(@key, CAST(@c AS varbinary(10))), 2));
END;
GO

-- The key id, to read aloud and compare.
CREATE OR ALTER FUNCTION dbo.pseudolink_key_id (@key varbinary(64))
RETURNS char(16)
WITH SCHEMABINDING
AS
BEGIN
    RETURN LOWER(LEFT(CONVERT(char(64), dbo.pseudolink_hmac(@key, CAST('pseudolink key id' AS varbinary(17))), 2), 16));
END;
GO
