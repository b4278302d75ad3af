-- Every line of every session file, reduced to what the metrics need. Audio payloads are kept
-- only as their decoded length, so the table stays small however much audio was recorded.
CREATE OR REPLACE TABLE records (
    ordinal       INTEGER,   -- which input file (`inputs.ordinal`)
    kind          VARCHAR,   -- NULL for a line DuckDB could not read (counted as skipped)
    session_id    VARCHAR,   -- `id` of the `session` record
    started_at    VARCHAR,
    request_path  VARCHAR,
    seq           BIGINT,
    t             DOUBLE,
    sender        VARCHAR,   -- frame `from`
    payloads      INTEGER,   -- how many of event/text/binary a frame has (exactly 1 is valid)
    is_event      BOOLEAN,   -- a well-formed frame holding an event with a type: see `frames`
    message       VARCHAR,   -- proxy `error` records
    type          VARCHAR,   -- event type, canonical (GA) name
    response_id   VARCHAR,   -- of a server event: `response_id`, or `response.id`
    payload_bytes BIGINT,    -- decoded length of `delta` or `audio` (base64)
    audio_end_ms  DOUBLE,
    response      JSON,
    session       JSON,
    error         JSON,
    rate_limits   JSON
);
