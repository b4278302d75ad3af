-- Distribution of each latency metric over the responses to user turns: `turn`, and GPT-Live's
-- `live_turn` (CONTRACT §4.1, §4.4: out-of-band and idle-timeout responses are counted in
-- `by_kind`, not in the latency figures). NULLs left out;
-- percentiles with linear interpolation.
WITH
metrics(metric, ordinal) AS (
    VALUES ('ttfb_ms', 1), ('ttft_ms', 2), ('duration_ms', 3), ('voice_to_voice_ms', 4),
           ('ttfb_final_ms', 5), ('voice_to_voice_final_ms', 6)
),
observations AS (
    UNPIVOT (
        SELECT ttfb_ms, ttft_ms, duration_ms, voice_to_voice_ms, ttfb_final_ms,
               voice_to_voice_final_ms
        FROM responses
        WHERE kind IN ('turn', 'live_turn')
    )
    ON ttfb_ms, ttft_ms, duration_ms, voice_to_voice_ms, ttfb_final_ms, voice_to_voice_final_ms
    INTO NAME metric VALUE ms
)
SELECT
    m.metric,
    count(o.ms) AS count,
    round(avg(o.ms), 3) AS mean,
    round(quantile_cont(o.ms, 0.50), 3) AS p50,
    round(quantile_cont(o.ms, 0.90), 3) AS p90,
    round(quantile_cont(o.ms, 0.95), 3) AS p95,
    round(quantile_cont(o.ms, 0.99), 3) AS p99,
    max(o.ms) AS max
FROM metrics AS m
LEFT JOIN observations AS o USING (metric)
GROUP BY m.metric, m.ordinal
ORDER BY m.ordinal;
