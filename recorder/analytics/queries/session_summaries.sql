-- `rt diff`: each session's totals and medians, in the order the files were given.
SELECT
    session, file, iso_utc(started_at) AS started_at, model, frames, responses, errors,
    ttfb_p50_ms, ttft_p50_ms, input_tokens, output_tokens, cost_usd
FROM sessions
JOIN inputs USING (file)
ORDER BY inputs.ordinal;
