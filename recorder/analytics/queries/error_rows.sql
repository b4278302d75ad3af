-- Everything that went wrong: server `error` events, failed responses and faults of the proxy
-- (the `errors` view shows them). `pos` is the frame the error came from: the `error` event,
-- or the response.done of a failed response; proxy faults are records, not frames.
CREATE OR REPLACE TABLE error_rows AS
SELECT f.ordinal, f.pos, s.session, s.file, f.t, 'event' AS source,
       f.error ->> 'type' AS type, f.error ->> 'code' AS code, f.error ->> 'message' AS message,
       NULL AS response_id
FROM frames AS f
JOIN session_files AS s USING (ordinal)
WHERE f.sender = 'server' AND f.type = 'error'
UNION ALL
SELECT ordinal, done_pos, session, file, done_t, 'response',
       coalesce(status_details ->> '$.error.type', 'response_failed'),
       status_details ->> '$.error.code',
       coalesce(status_details ->> '$.error.message', 'response ' || response_id || ' failed'),
       response_id
FROM response_metrics
WHERE status = 'failed'
UNION ALL
SELECT r.ordinal, NULL, s.session, s.file, r.t, 'proxy', 'proxy_error', NULL, r.message, NULL
FROM records AS r
JOIN session_files AS s USING (ordinal)
WHERE r.kind = 'error' AND r.t IS NOT NULL;
