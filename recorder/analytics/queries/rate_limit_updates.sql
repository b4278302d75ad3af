-- Every entry of every server rate_limits.updated, with its wall-clock time when the session
-- start is known (the `rate_limits` view shows them). Entries are kept as sent: either name may
-- be missing from an update.
CREATE OR REPLACE TABLE rate_limit_updates AS
WITH entries AS (
    SELECT
        ordinal,
        pos,
        t,
        unnest(TRY(from_json(
            rate_limits,
            '[{"name": "VARCHAR", "limit": "DOUBLE", "remaining": "DOUBLE", "reset_seconds": "DOUBLE"}]'
        ))) AS entry
    FROM frames
    WHERE sender = 'server' AND type = 'rate_limits.updated'
)
SELECT
    e.ordinal,
    e.pos,
    s.session,
    s.file,
    e.t,
    wall_clock(s.started_at, e.t) AS wall_clock,
    e.entry.name AS name,
    CAST(round(e.entry.limit) AS BIGINT) AS "limit",
    CAST(round(e.entry.remaining) AS BIGINT) AS remaining,
    e.entry.reset_seconds AS reset_seconds
FROM entries AS e
JOIN session_files AS s USING (ordinal)
WHERE e.entry.name IS NOT NULL;
