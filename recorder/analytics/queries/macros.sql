-- Helpers shared by the queries. Run once when a database is opened.

-- Bytes a base64 string decodes to, from its length and padding, without decoding it.
CREATE OR REPLACE MACRO base64_decoded_length(b64) AS
    (strlen(b64) * 3) // 4
    - CASE WHEN suffix(b64, '==') THEN 2 WHEN suffix(b64, '=') THEN 1 ELSE 0 END;

-- Bytes per millisecond of an audio format: a beta string ("g711_ulaw") or a GA object
-- ({"type": "audio/pcm", "rate": 24000}); NULL when the format is absent or unknown.
CREATE OR REPLACE MACRO audio_bytes_per_ms(fmt) AS (
    SELECT CASE
        WHEN f.sample_width = 2 AND TRY_CAST(fmt ->> 'rate' AS INTEGER) > 0
            THEN TRY_CAST(fmt ->> 'rate' AS INTEGER) * f.sample_width / 1000
        ELSE f.bytes_per_ms
    END
    FROM audio_formats AS f
    WHERE f.name = CASE json_type(fmt) WHEN 'VARCHAR' THEN fmt ->> '$' WHEN 'OBJECT' THEN fmt ->> 'type' END
);

-- The value of one query parameter in a request path, percent-decoded.
CREATE OR REPLACE MACRO query_param(path, param) AS
    nullif(url_decode(regexp_extract(path, '[?&]' || param || '=([^&#]*)', 1)), '');

-- An ISO-8601 UTC timestamp with microseconds, like the session file's `started_at`.
CREATE OR REPLACE MACRO iso_utc(ts) AS strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ');

-- The wall-clock time of session time `t` (NULL when the start of the session is unknown).
CREATE OR REPLACE MACRO wall_clock(started_at, t) AS
    started_at + to_microseconds(CAST(round(t * 1e6) AS BIGINT));

-- A usable `frame` record: a time, a direction, and exactly one payload (event, text, binary).
-- A usable `t`: seconds since the start, 0 to 1e9, as recorder/session.py decode_line demands
-- (NaN sorts above every number in DuckDB, so it fails too).
CREATE OR REPLACE MACRO valid_t(t) AS coalesce(t >= 0 AND t <= 1e9, false);

CREATE OR REPLACE MACRO is_frame(kind, t, sender, payloads) AS
    kind = 'frame' AND valid_t(t) AND sender IN ('client', 'server') AND payloads = 1;
