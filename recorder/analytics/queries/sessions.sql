-- View `sessions`: one row per session file, in the order the files were given. The columns of
-- CONTRACT section 3 first, then the model, the frames, the errors and the median ttfb and ttft
-- of its `turn` (GPT-Live: `live_turn`) responses, then what the connection was (CONTRACT
-- §4.3), its input transcription and translated audio (§4.2), its conversation timing (§4.6:
-- NULL for a session without audio), what a GPT-Live session was billed (§4.4: NULL for other
-- sessions) and the partition column `date`. `cost_usd` is the session's whole cost (its
-- responses, transcription, translated audio, GPT-Live time and delegated calls), priced by the
-- interpretation (`interpretation/costs.py`): 0 with nothing billed, NULL when nothing billed
-- has a known price. Every value is a fact of the interpretation or a sum of them.
CREATE OR REPLACE VIEW sessions AS
WITH
per_session AS (
    SELECT
        ordinal,
        count(*) AS responses,
        sum(input_tokens)::BIGINT AS input_tokens,
        sum(output_tokens)::BIGINT AS output_tokens,
        round(quantile_cont(ttfb_ms, 0.5) FILTER (WHERE kind IN ('turn', 'live_turn')), 3)
            AS ttfb_p50_ms,
        round(quantile_cont(ttft_ms, 0.5) FILTER (WHERE kind IN ('turn', 'live_turn')), 3)
            AS ttft_p50_ms
    FROM response_facts
    GROUP BY ordinal
),
per_session_errors AS (
    SELECT
        ordinal,
        count(*) AS errors,
        count(*) FILTER (WHERE source = 'proxy') AS proxy_errors
    FROM error_facts
    GROUP BY ordinal
)
SELECT
    s.session,
    s.file,
    s.started_at,
    s.duration_s,
    coalesce(r.responses, 0) AS responses,
    coalesce(r.input_tokens, 0) AS input_tokens,
    coalesce(r.output_tokens, 0) AS output_tokens,
    s.cost_usd,
    s.model,
    s.frames,
    coalesce(e.errors, 0) AS errors,
    r.ttfb_p50_ms,
    r.ttft_p50_ms,
    s.protocol,
    s.transport,
    s.client_frames,
    s.server_frames,
    s.input_audio_ms,
    s.output_audio_ms,
    s.input_audio_bytes,
    s.output_audio_bytes,
    coalesce(e.proxy_errors, 0) AS proxy_errors,
    s.upstream,
    s.request_path,
    s.subprotocol,
    s.closed_by,
    s.close_code,
    s.close_reason,
    s.recorder_version,
    s.transcription_model,
    s.transcription_seconds,
    s.transcription_tokens,
    s.transcription_cost_usd,
    s.translation_seconds,
    s.translation_cost_usd,
    s.user_talk_ms,
    s.assistant_talk_ms,
    s.talk_over_ms,
    s.barge_ins,
    s.barge_in_stop_ms,
    s.dead_air_ms,
    s.turns,
    s.live_seconds,
    s.live_cost_usd,
    s.live_close_reason,
    s.live_delegations,
    s.live_delegated_tokens,
    s.live_muted_ms,
    CAST(s.started_at AS DATE) AS date
FROM session_facts AS s
LEFT JOIN per_session AS r USING (ordinal)
LEFT JOIN per_session_errors AS e USING (ordinal)
ORDER BY s.ordinal;
