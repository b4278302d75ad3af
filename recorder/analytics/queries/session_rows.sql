-- The `sessions` array of `rt stats --format json`: the CONTRACT §3 keys, then the model and
-- what the connection was (§4.3), then the input transcription (§4.2) and translated audio,
-- the conversation timing (§4.6) and what a GPT-Live session was billed (§4.4).
SELECT
    s.session, s.file, iso_utc(s.started_at) AS started_at, s.duration_s, s.responses,
    s.input_tokens, s.output_tokens, s.cost_usd, s.model, s.protocol, s.transport,
    s.transcription_model, s.transcription_seconds, s.transcription_tokens,
    s.transcription_cost_usd, s.translation_seconds, s.translation_cost_usd,
    s.user_talk_ms, s.assistant_talk_ms, s.talk_over_ms, s.barge_ins, s.barge_in_stop_ms,
    s.dead_air_ms, s.turns, s.live_seconds, s.live_cost_usd, s.live_close_reason,
    s.live_delegations, s.live_delegated_tokens, s.live_muted_ms
FROM sessions AS s
JOIN inputs AS i USING (file)
ORDER BY i.ordinal;
