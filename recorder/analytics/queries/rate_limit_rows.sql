-- The `rate_limits` array of `rt stats --format json`.
SELECT l.session, l.t, iso_utc(l."at") AS "at", l.name, l."limit", l.remaining, l.reset_seconds
FROM rate_limits AS l
JOIN inputs AS i USING (file)
ORDER BY i.ordinal, l.seq, l.name;
