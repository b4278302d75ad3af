-- Every line of every session file, reduced to what the views need. Audio payloads are kept
-- only as their decoded length, so the table stays small however much audio was recorded;
-- the whole event is kept only when the database is opened for the `events` view.
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
    alias_type    VARCHAR,   -- the type as recorded, when it is a beta name (else NULL)
    response_id   VARCHAR,   -- `response_id`, or the `response.id` of a server event
    payload_bytes BIGINT,    -- decoded length of `delta` or `audio` (base64)
    audio_end_ms  DOUBLE,
    response      JSON,
    session       JSON,
    error         JSON,
    rate_limits   JSON,
    event_json    JSON       -- the whole event, or NULL (see above)
);
