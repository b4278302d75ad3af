-- Responses that did not complete (cancelled, incomplete, failed, or never done), for the
-- table view, with the reason the server gave.
SELECT r.session, r.file, r.response_id, coalesce(r.status, 'unknown') AS status, r.reason, r.trigger_t AS t
FROM responses AS r
JOIN inputs AS i USING (file)
WHERE r.status IS DISTINCT FROM 'completed'
ORDER BY i.ordinal, r.seq;
