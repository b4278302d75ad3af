-- Append the lines of the files in $files to `records`; $files[i] is input $first_ordinal + i.
-- `session_lines` is the reader chosen when the database was opened (session_lines.sql, or
-- session_lines_with_events.sql): the same columns either way. The parts of an event whose
-- shape varies (response, session, error, rate_limits) stay JSON; the base64 audio (`delta`,
-- `audio`) is only measured. A line DuckDB cannot read comes back as a row of NULLs
-- (ignore_errors), which is how skipped lines are counted.
INSERT INTO records
SELECT
    $first_ordinal + file_index,
    kind,
    id,
    started_at,
    request.path,
    seq,
    t,
    "from",
    (event IS NOT NULL)::INTEGER + (text IS NOT NULL)::INTEGER + ("binary" IS NOT NULL)::INTEGER,
    kind = 'frame' AND t IS NOT NULL AND "from" IN ('client', 'server') AND event.type IS NOT NULL
        AND text IS NULL AND "binary" IS NULL,
    message,
    canonical_type(event.type),
    nullif(event.type, canonical_type(event.type)),
    coalesce(event.response_id, CASE WHEN "from" = 'server' THEN event.response ->> 'id' END),
    base64_decoded_length(coalesce(event.delta, event.audio)),
    TRY_CAST(event.audio_end_ms AS DOUBLE),
    event.response,
    event.session,
    event.error,
    event.rate_limits,
    event_json
FROM session_lines($files, $max_object_size);
