-- View `events`: one row per frame, both directions, in file order then frame order. `type` is
-- the canonical (GA) name, `raw_type` the type as recorded; `response_id` and `item_id` are the
-- interpretation's attribution; `audio_bytes`/`audio_ms` the audio of an append or audio delta
-- in the format in effect. `event` is the whole event (its base64 audio left out unless asked
-- for), or NULL when the database was opened without events; `text`/`binary` hold the payload of
-- frames that are not JSON events.
CREATE OR REPLACE VIEW events AS
SELECT
    s.session,
    s.file,
    e.seq,
    e.t,
    wall_clock(s.started_at, e.t) AS "at",
    e.direction,
    e.type,
    e.raw_type,
    e.response_id,
    e.item_id,
    e.audio_bytes,
    e.audio_ms,
    e.event,
    e.text,
    TRY(from_base64(e."binary")) AS "binary",
    CAST(s.started_at AS DATE) AS date,
    s.model
FROM event_facts AS e
JOIN session_facts AS s USING (ordinal)
ORDER BY e.ordinal, e.seq;
