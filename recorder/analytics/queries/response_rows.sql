-- The `responses` array of `rt stats --format json`, in session order, then in time order: the
-- CONTRACT §3 keys, then those of §4.1-4.3.
SELECT
    r.session, r.file, r.response_id, r.model, r.status, r.trigger, r.trigger_t,
    r.ttfb_ms, r.ttft_ms, r.duration_ms, r.voice_to_voice_ms, r.audio_out_ms,
    r.input_tokens, r.output_tokens, r.input_text_tokens, r.input_audio_tokens,
    r.input_cached_tokens, r.output_text_tokens, r.output_audio_tokens, r.cost_usd,
    r.kind, r.ttfb_source, r.ttfb_final_ms, r.voice_to_voice_final_ms, r.preamble_audio_ms,
    r.input_image_tokens, r.cached_text_tokens, r.cached_audio_tokens, r.cached_image_tokens,
    r.output_reasoning_tokens
FROM responses AS r
JOIN inputs AS i USING (file)
ORDER BY i.ordinal, r.seq;
