-- View `errors`: server `error` events (source 'event'), failed responses ('response') and
-- faults of the proxy ('proxy'), in file order, then in time order. `seq` is the frame the
-- error came from (NULL for a proxy fault, which is not a frame).
CREATE OR REPLACE VIEW errors AS
SELECT session, file, t, type, code, message, source, response_id, pos AS seq
FROM error_rows
ORDER BY ordinal, t, pos NULLS LAST;
