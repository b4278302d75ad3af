-- View `sessions`: one row per session file, in the order the files were given. The columns of
-- CONTRACT section 3 first, then the model, the frames, the errors and the median ttfb and ttft. A
-- session without responses costs 0; one whose responses all have an unknown cost costs NULL.
CREATE OR REPLACE VIEW sessions AS
WITH
per_session AS (
    SELECT
        ordinal,
        count(*) AS responses,
        sum(input_tokens)::BIGINT AS input_tokens,
        sum(output_tokens)::BIGINT AS output_tokens,
        round(sum(cost_usd), 8) AS cost_usd,
        round(quantile_cont(ttfb_ms, 0.5), 3) AS ttfb_p50_ms,
        round(quantile_cont(ttft_ms, 0.5), 3) AS ttft_p50_ms
    FROM response_metrics
    GROUP BY ordinal
),
per_session_errors AS (
    SELECT ordinal, count(*) AS errors
    FROM error_rows
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
    CASE WHEN r.responses IS NULL THEN 0.0 ELSE r.cost_usd END AS cost_usd,
    s.model,
    s.frames,
    coalesce(e.errors, 0) AS errors,
    r.ttfb_p50_ms,
    r.ttft_p50_ms
FROM session_files AS s
LEFT JOIN per_session AS r USING (ordinal)
LEFT JOIN per_session_errors AS e USING (ordinal)
ORDER BY s.ordinal;
