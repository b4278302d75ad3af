-- The `responses` array of `rt stats --format json`, in session order, then in time order.
SELECT
    session, file, response_id, model, status, trigger, trigger_t,
    ttfb_ms, ttft_ms, duration_ms, voice_to_voice_ms, audio_out_ms,
    input_tokens, output_tokens, input_text_tokens, input_audio_tokens, input_cached_tokens,
    output_text_tokens, output_audio_tokens, cost_usd
FROM responses
ORDER BY ordinal, anchor_pos;
