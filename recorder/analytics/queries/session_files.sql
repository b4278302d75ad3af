-- One row per input file (one WebSocket connection). A file without a `session` record (a
-- hand-written fixture) is named by its stem and has no start time.
CREATE OR REPLACE TABLE session_files AS
WITH
headers AS (
    SELECT
        ordinal,
        any_value(session_id) FILTER (WHERE kind = 'session') AS recorded_id,
        any_value(started_at) FILTER (WHERE kind = 'session') AS started_at,
        any_value(request_path) FILTER (WHERE kind = 'session') AS request_path,
        max(t) AS last_t,
        count(*) FILTER (WHERE is_frame(kind, t, sender, payloads)) AS frames
    FROM records
    GROUP BY ordinal
),
-- the model the server reports; GA may report only the alias (gpt-realtime)
reported AS (
    SELECT ordinal, arg_max(session ->> 'model', pos) AS model
    FROM frames
    WHERE sender = 'server'
      AND type IN ('session.created', 'session.updated')
      AND session ->> 'model' IS NOT NULL
    GROUP BY ordinal
)
SELECT
    i.ordinal,
    i.file,
    coalesce(h.recorded_id, parse_filename(i.file, true)) AS session,
    TRY_CAST(h.started_at AS TIMESTAMPTZ) AS started_at,
    coalesce(h.last_t, 0.0) AS duration_s,
    coalesce(
        r.model,
        query_param(h.request_path, 'model'),
        query_param(h.request_path, 'deployment')  -- Azure preview URLs
    ) AS model,
    coalesce(h.frames, 0) AS frames
FROM inputs AS i
LEFT JOIN headers AS h USING (ordinal)
LEFT JOIN reported AS r USING (ordinal);
