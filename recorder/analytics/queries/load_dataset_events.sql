-- The frames of a dataset's `events` table ($events) as `records`, for its inputs (numbered
-- from $first_ordinal). Types are canonical and audio is measured already; the JSON parts the
-- metrics read come from the events of the types they are read for. The whole event is kept
-- when $keep_events (without its audio, unless exported --with-audio).
INSERT INTO records
SELECT
    i.ordinal,
    'frame',
    NULL, NULL, NULL,
    e.seq,
    e.t,
    e.direction,
    1,
    e.type IS NOT NULL AND e.event IS NOT NULL,
    NULL,
    e.type,
    nullif(e.raw_type, e.type),
    e.response_id,
    e.audio_bytes,
    CASE WHEN e.type = 'input_audio_buffer.speech_stopped' THEN TRY_CAST(e.event -> 'audio_end_ms' AS DOUBLE) END,
    CASE WHEN e.type IN ('response.create', 'response.created', 'response.done') THEN e.event -> 'response' END,
    CASE WHEN e.type IN ('session.created', 'session.updated') THEN e.event -> 'session' END,
    CASE WHEN e.type = 'error' THEN e.event -> 'error' END,
    CASE WHEN e.type = 'rate_limits.updated' THEN e.event -> 'rate_limits' END,
    CASE WHEN $keep_events THEN e.event END
FROM read_parquet($events, hive_partitioning = false) AS e
JOIN inputs AS i ON i.file = e.file AND i.ordinal >= $first_ordinal;
