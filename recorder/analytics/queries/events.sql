-- View `events`: one row per frame, both directions, in no particular order (ORDER BY file, seq).
-- `event` (the whole event) is filled only when the database was opened with the events kept;
-- `rt sql` does that for every query that names this view.
CREATE OR REPLACE VIEW events AS
SELECT
    s.session,
    s.file,
    r.seq,
    r.t,
    wall_clock(s.started_at, r.t) AS "at",
    r.sender AS direction,
    r.type,
    coalesce(r.alias_type, r.type) AS raw_type,
    r.response_id,
    r.event_json AS event
FROM records AS r
JOIN session_files AS s USING (ordinal)
WHERE is_frame(r.kind, r.t, r.sender, r.payloads);
