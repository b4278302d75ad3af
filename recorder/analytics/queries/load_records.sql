-- Append the lines of the files in $files to `records`; $files[i] is input $first_ordinal + i.
-- The schema is explicit: nothing is inferred. `event` is read as a projection holding the few
-- fields the metrics use; the parts whose shape varies (response, session, error, rate_limits)
-- stay JSON, and fields of unexpected types are converted rather than failing the line. The
-- base64 audio (`delta`, `audio`) is only measured. A line DuckDB cannot read comes back as a
-- row of NULLs (ignore_errors), which is how skipped lines are counted.
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
    CASE WHEN "from" = 'server' THEN coalesce(event.response_id, event.response ->> 'id') END,
    base64_decoded_length(coalesce(event.delta, event.audio)),
    TRY_CAST(event.audio_end_ms AS DOUBLE),
    event.response,
    event.session,
    event.error,
    event.rate_limits
FROM read_ndjson(
    $files,
    columns = {
        'kind': 'VARCHAR',
        'id': 'VARCHAR',
        'started_at': 'VARCHAR',
        'request': 'STRUCT(path VARCHAR)',
        'seq': 'BIGINT',
        't': 'DOUBLE',
        'from': 'VARCHAR',
        'message': 'VARCHAR',
        'text': 'VARCHAR',
        'binary': 'VARCHAR',
        'event': 'STRUCT(type VARCHAR, response_id VARCHAR, delta VARCHAR, audio VARCHAR, audio_end_ms JSON, response JSON, session JSON, error JSON, rate_limits JSON)'
    },
    ignore_errors = true,
    maximum_object_size = $max_object_size
);
