-- View `responses`: one row per response (keyed by response.id), in file order, then in the
-- order the responses started. The columns of CONTRACT section 3 first, then `seq` (the frame
-- that opened the response: its response.created, else its first frame), the times it was
-- created and done, and why it did not complete.
CREATE OR REPLACE VIEW responses AS
SELECT
    session,
    file,
    response_id,
    model,
    status,
    trigger,
    trigger_t,
    ttfb_ms,
    ttft_ms,
    duration_ms,
    voice_to_voice_ms,
    audio_out_ms,
    input_tokens,
    output_tokens,
    input_text_tokens,
    input_audio_tokens,
    input_cached_tokens,
    output_text_tokens,
    output_audio_tokens,
    cost_usd,
    anchor_pos AS seq,
    created_t,
    done_t,
    coalesce(
        status_details ->> 'reason',
        status_details ->> '$.error.code',
        CASE WHEN done_t IS NULL THEN 'no response.done' END
    ) AS reason
FROM response_metrics
ORDER BY ordinal, anchor_pos;
