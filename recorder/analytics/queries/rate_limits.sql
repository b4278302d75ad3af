-- View `rate_limits`: one row per entry of every server rate_limits.updated, in file order,
-- then in time order.
CREATE OR REPLACE VIEW rate_limits AS
SELECT session, file, t, wall_clock AS "at", name, "limit", remaining, reset_seconds, pos AS seq
FROM rate_limit_updates
ORDER BY ordinal, pos, name;
