-- The `errors` array (CONTRACT fields, then `file`, `source` and `response_id`).
SELECT session, t, type, code, message, file, source, response_id
FROM error_rows
ORDER BY ordinal, t, pos NULLS LAST;
