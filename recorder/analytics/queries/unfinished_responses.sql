-- Responses that did not complete (cancelled, incomplete, failed, or never done), for the
-- table view, with the reason the server gave.
SELECT
    session,
    response_id,
    coalesce(status, 'unknown') AS status,
    coalesce(
        status_details ->> 'reason',
        status_details ->> '$.error.code',
        CASE WHEN done_t IS NULL THEN 'no response.done' END
    ) AS reason,
    trigger_t AS t
FROM responses
WHERE status IS DISTINCT FROM 'completed'
ORDER BY ordinal, anchor_pos;
