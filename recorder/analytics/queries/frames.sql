-- The usable event frames, in the order they happened (`pos`, per file). Every later query
-- reads frames through this view and orders them by `pos`. (A view over a flag set while
-- loading: copying the frames into a table of their own costs more than it saves.)
CREATE OR REPLACE VIEW frames AS
SELECT
    ordinal,
    seq AS pos,  -- the recorder numbers frames in the order it saw them
    t,
    sender,
    type,
    response_id,
    payload_bytes,
    audio_end_ms,
    response,
    session,
    error,
    rate_limits
FROM records
WHERE is_event;
