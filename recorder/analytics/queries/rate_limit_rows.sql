-- The `rate_limits` array.
SELECT session, t, iso_utc(wall_clock) AS "at", name, "limit", remaining, reset_seconds
FROM rate_limit_updates
ORDER BY ordinal, pos, name;
