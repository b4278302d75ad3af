-- View `responses`: one row per response (keyed by response.id), in file order, then in the
-- order the responses started. The columns of CONTRACT section 3 first, then those of §4.1-4.2
-- (kind, the final-answer latencies, the preamble, the other token counts), then `seq` (the
-- frame that opened the response), its number, the times it was created and done, why it did not
-- complete, and the partition column `date`. Every value is a fact of the interpretation
-- (recorder/interpretation/responses.py); `cost_usd` is its tokens at the model's prices.
CREATE OR REPLACE VIEW responses AS
SELECT
    s.session,
    s.file,
    r.response_id,
    s.model,
    r.status,
    r.trigger,
    r.trigger_t,
    r.ttfb_ms,
    r.ttft_ms,
    r.duration_ms,
    r.voice_to_voice_ms,
    r.audio_out_ms,
    r.input_tokens,
    r.output_tokens,
    r.input_text_tokens,
    r.input_audio_tokens,
    r.input_cached_tokens,
    r.output_text_tokens,
    r.output_audio_tokens,
    r.cost_usd,
    r.kind,
    r.ttfb_source,
    r.ttfb_final_ms,
    r.voice_to_voice_final_ms,
    r.preamble_audio_ms,
    r.input_image_tokens,
    r.cached_text_tokens,
    r.cached_audio_tokens,
    r.cached_image_tokens,
    r.output_reasoning_tokens,
    r.seq,
    r.number,
    r.created_t,
    r.done_t,
    r.reason,
    wall_clock(s.started_at, r.trigger_t) AS trigger_at,
    CAST(s.started_at AS DATE) AS date
FROM response_facts AS r
JOIN session_facts AS s USING (ordinal)
ORDER BY r.ordinal, r.seq;
