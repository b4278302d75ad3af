-- Helpers shared by the queries. Run once when a database is opened.

-- The value of one query parameter in a request path, percent-decoded.
CREATE OR REPLACE MACRO query_param(path, param) AS
    nullif(url_decode(regexp_extract(path, '[?&]' || param || '=([^&#]*)', 1)), '');

-- An ISO-8601 UTC timestamp with microseconds, like the session file's `started_at`.
CREATE OR REPLACE MACRO iso_utc(ts) AS strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ');

-- The wall-clock time of session time `t` (NULL when the start of the session is unknown).
CREATE OR REPLACE MACRO wall_clock(started_at, t) AS
    started_at + to_microseconds(CAST(round(t * 1e6) AS BIGINT));
