-- The audio formats in effect after each server session.created / session.updated (a client
-- session.update is only a request). A message that does not mention a format keeps the last one.
CREATE OR REPLACE TABLE session_configs AS
SELECT
    ordinal,
    pos,
    last_value(audio_bytes_per_ms(
        coalesce(session -> '$.audio.input.format', session -> 'input_audio_format')
    ) IGNORE NULLS) OVER running AS input_bytes_per_ms,
    last_value(audio_bytes_per_ms(
        coalesce(session -> '$.audio.output.format', session -> 'output_audio_format')
    ) IGNORE NULLS) OVER running AS output_bytes_per_ms
FROM frames
WHERE sender = 'server' AND type IN ('session.created', 'session.updated')
WINDOW running AS (PARTITION BY ordinal ORDER BY pos ROWS UNBOUNDED PRECEDING);
