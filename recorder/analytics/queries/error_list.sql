-- The `errors` array of `rt stats --format json` (CONTRACT fields, then `file`, `source` and
-- `response_id`).
SELECT e.session, e.t, e.type, e.code, e.message, e.file, e.source, e.response_id
FROM errors AS e
JOIN inputs AS i USING (file)
ORDER BY i.ordinal, e.t, e.seq NULLS LAST;
