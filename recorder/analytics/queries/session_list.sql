-- `rt ls`: one row per session, in the order the files were given (the caller sorts).
SELECT
    file,
    session,
    iso_utc(started_at) AS started_at,
    model,
    duration_s,
    responses AS turns,
    ttfb_p50_ms,
    input_tokens + output_tokens AS tokens,
    input_tokens,
    output_tokens,
    cost_usd,
    errors,
    frames
FROM sessions
JOIN inputs USING (file)
ORDER BY inputs.ordinal;
