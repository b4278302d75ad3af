-- View `errors`: server `error` events (source 'event'), failed responses ('response') and
-- faults of the proxy ('proxy'), in file order, then in time order. `seq` is the frame the
-- error came from (NULL for a proxy fault, which is not a frame).
CREATE OR REPLACE VIEW errors AS
SELECT
    s.session,
    s.file,
    e.t,
    wall_clock(s.started_at, e.t) AS "at",
    e.type,
    e.code,
    e.message,
    e.source,
    e.response_id,
    e.seq,
    CAST(s.started_at AS DATE) AS date,
    s.model
FROM error_facts AS e
JOIN session_facts AS s USING (ordinal)
ORDER BY e.ordinal, e.t, e.seq NULLS LAST;
