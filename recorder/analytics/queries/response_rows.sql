-- The `responses` array of `rt stats --format json`, in session order, then in time order.
SELECT
    r.session, r.file, r.response_id, r.model, r.status, r.trigger, r.trigger_t,
    r.ttfb_ms, r.ttft_ms, r.duration_ms, r.voice_to_voice_ms, r.audio_out_ms,
    r.input_tokens, r.output_tokens, r.input_text_tokens, r.input_audio_tokens,
    r.input_cached_tokens, r.output_text_tokens, r.output_audio_tokens, r.cost_usd
FROM responses AS r
JOIN inputs AS i USING (file)
ORDER BY i.ordinal, r.seq;
