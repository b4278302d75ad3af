-- View `rate_limits`: one row per entry of every server rate_limits.updated, in file order, then
-- in time order. Numbers beyond a 64-bit integer are NULL (the interpretation warns).
CREATE OR REPLACE VIEW rate_limits AS
SELECT
    s.session,
    s.file,
    l.t,
    wall_clock(s.started_at, l.t) AS "at",
    l.name,
    l."limit",
    l.remaining,
    l.reset_seconds,
    l.seq,
    CAST(s.started_at AS DATE) AS date,
    s.model
FROM rate_limit_facts AS l
JOIN session_facts AS s USING (ordinal)
ORDER BY l.ordinal, l.seq, l.name;
