-- One row per response, keyed by response.id, with the metrics of CONTRACT section 3 (the
-- `responses` view shows them).
CREATE OR REPLACE TABLE response_metrics AS
WITH
per_response AS (
    SELECT
        f.ordinal,
        f.response_id,
        -- a response.done may come without a response.created (seen around interruptions)
        coalesce(min(f.pos) FILTER (WHERE f.type = 'response.created'), min(f.pos)) AS anchor_pos,
        min(f.t) FILTER (WHERE f.type = 'response.created') AS created_t,
        max(f.t) FILTER (WHERE f.type = 'response.done') AS done_t,
        max(f.pos) FILTER (WHERE f.type = 'response.done') AS done_pos,
        min(f.t) FILTER (WHERE d.is_audio) AS first_audio_t,
        min(f.t) FILTER (WHERE d.type IS NOT NULL) AS first_delta_t,
        coalesce(sum(f.payload_bytes) FILTER (WHERE d.is_audio), 0) AS audio_out_bytes,
        arg_min(f.response, f.pos) FILTER (WHERE f.type = 'response.created') AS created,
        arg_max(f.response, f.pos) FILTER (WHERE f.type = 'response.done') AS done
    FROM frames AS f
    LEFT JOIN output_deltas AS d ON d.type = f.type
    WHERE f.response_id IS NOT NULL AND f.sender = 'server'
    GROUP BY f.ordinal, f.response_id
),

-- Triggers and responses make a stack per file: a client response.create or a server
-- speech_stopped is pushed; each response pops the latest trigger that no earlier response
-- has claimed (nothing, when the stack is empty).
stack_moves AS (
    SELECT ordinal, pos, t, type AS trigger, audio_end_ms, response AS requested,
           1 AS step, NULL AS response_id
    FROM frames
    WHERE (sender = 'client' AND type = 'response.create')
       OR (sender = 'server' AND type = 'input_audio_buffer.speech_stopped')
    UNION ALL
    SELECT ordinal, anchor_pos, NULL, NULL, NULL, NULL, -1, response_id
    FROM per_response
),
heights AS (
    SELECT *, sum(step) OVER running AS height
    FROM stack_moves
    WINDOW running AS (PARTITION BY ordinal ORDER BY pos ROWS UNBOUNDED PRECEDING)
),
-- A pop on an empty stack changes nothing, so the depth is the running sum floored at zero:
-- the height minus the lowest height reached so far (Lindley's recursion in closed form).
depths AS (
    SELECT *, height - least(0, min(height) OVER running) AS depth
    FROM heights
    WINDOW running AS (PARTITION BY ordinal ORDER BY pos ROWS UNBOUNDED PRECEDING)
),
moves AS (
    SELECT *, lag(depth, 1, 0) OVER (PARTITION BY ordinal ORDER BY pos) AS depth_before
    FROM depths
),
pushes AS (SELECT * FROM moves WHERE step = 1),
pops AS (SELECT * FROM moves WHERE step = -1),
-- The trigger a pop takes is the latest push that left the stack as deep as it was just
-- before the pop; a pop on an empty stack (depth 0) matches no push.
claims AS (
    SELECT pops.ordinal, pops.response_id, pushes.trigger, pushes.t AS trigger_t,
           pushes.audio_end_ms, pushes.requested
    FROM pops
    ASOF LEFT JOIN pushes
        ON pushes.ordinal = pops.ordinal
       AND pushes.depth = pops.depth_before
       AND pops.pos > pushes.pos
),

-- Input audio timeline: milliseconds of audio appended so far, after each client append, in
-- the input format in effect when it was sent (each session.created/updated holds until the
-- next one: a range join, cheaper than looking each append up with ASOF or a window).
input_format_ranges AS (
    SELECT
        ordinal,
        pos AS from_pos,
        lead(pos, 1, 9223372036854775807) OVER (PARTITION BY ordinal ORDER BY pos) AS to_pos,
        input_bytes_per_ms
    FROM session_configs
),
appends AS (
    SELECT
        a.ordinal,
        a.pos,
        a.t,
        a.payload_bytes / coalesce(r.input_bytes_per_ms, default_bytes_per_ms()) AS audio_ms
    FROM frames AS a
    LEFT JOIN input_format_ranges AS r
        ON r.ordinal = a.ordinal AND a.pos >= r.from_pos AND a.pos < r.to_pos
    WHERE a.sender = 'client' AND a.type = 'input_audio_buffer.append'
),
appended AS (
    SELECT
        *,
        sum(audio_ms) OVER (PARTITION BY ordinal ORDER BY pos ROWS UNBOUNDED PRECEDING) AS end_ms
    FROM appends
),
-- When the user stopped talking: the first append whose audio covers speech_stopped's
-- audio_end_ms, i.e. whose audio starts before it and ends at or after it.
speech_ends AS (
    SELECT c.ordinal, c.response_id, arg_min(a.t, a.pos) AS speech_end_t
    FROM claims AS c
    JOIN appended AS a
        ON a.ordinal = c.ordinal
       AND c.audio_end_ms <= a.end_ms
       AND c.audio_end_ms > a.end_ms - a.audio_ms - 1e-6  -- the sum may round: take the first
    WHERE c.trigger = 'input_audio_buffer.speech_stopped'
    GROUP BY c.ordinal, c.response_id
),

-- Output format: set on the response, else on the response.create that triggered it, else
-- the session's format when the response started (format changes and responses in one
-- ordered stream), else pcm16.
format_stream AS (
    SELECT ordinal, pos, output_bytes_per_ms, NULL AS response_id
    FROM session_configs
    UNION ALL
    SELECT ordinal, anchor_pos, NULL, response_id
    FROM per_response
),
session_output_formats AS (
    SELECT ordinal, response_id, bytes_per_ms
    FROM (
        SELECT
            *,
            last_value(output_bytes_per_ms IGNORE NULLS) OVER (
                PARTITION BY ordinal ORDER BY pos ROWS UNBOUNDED PRECEDING
            ) AS bytes_per_ms
        FROM format_stream
    )
    WHERE response_id IS NOT NULL
),
output_formats AS (
    SELECT
        p.ordinal,
        p.response_id,
        coalesce(
            audio_bytes_per_ms(coalesce(p.created -> '$.audio.output.format', p.created -> 'output_audio_format')),
            audio_bytes_per_ms(coalesce(c.requested -> '$.audio.output.format', c.requested -> 'output_audio_format')),
            s.bytes_per_ms,
            default_bytes_per_ms()
        ) AS bytes_per_ms
    FROM per_response AS p
    JOIN claims AS c USING (ordinal, response_id)
    LEFT JOIN session_output_formats AS s USING (ordinal, response_id)
),

-- Usage from response.done (the beta and GA shapes share these names; older beta frames
-- have only the totals, which leaves the split and the cost unknown).
usage AS (
    SELECT
        ordinal,
        response_id,
        TRY_CAST(done ->> '$.usage.input_tokens' AS BIGINT) AS input_tokens,
        TRY_CAST(done ->> '$.usage.output_tokens' AS BIGINT) AS output_tokens,
        TRY_CAST(done ->> '$.usage.input_token_details.text_tokens' AS BIGINT) AS input_text_tokens,
        TRY_CAST(done ->> '$.usage.input_token_details.audio_tokens' AS BIGINT) AS input_audio_tokens,
        TRY_CAST(done ->> '$.usage.input_token_details.cached_tokens' AS BIGINT) AS input_cached_tokens,
        TRY_CAST(done ->> '$.usage.input_token_details.cached_tokens_details.text_tokens' AS BIGINT) AS cached_text_tokens,
        TRY_CAST(done ->> '$.usage.input_token_details.cached_tokens_details.audio_tokens' AS BIGINT) AS cached_audio_tokens,
        TRY_CAST(done ->> '$.usage.output_token_details.text_tokens' AS BIGINT) AS output_text_tokens,
        TRY_CAST(done ->> '$.usage.output_token_details.audio_tokens' AS BIGINT) AS output_audio_tokens
    FROM per_response
),
-- Without a cached split, cached tokens count as text first (the cached prefix starts with
-- the instructions), the rest as audio.
cached AS (
    SELECT
        ordinal,
        response_id,
        coalesce(cached_text_tokens, least(coalesce(input_cached_tokens, 0), input_text_tokens)) AS cached_text,
        coalesce(
            cached_audio_tokens,
            coalesce(input_cached_tokens, 0)
                - coalesce(cached_text_tokens, least(coalesce(input_cached_tokens, 0), input_text_tokens))
        ) AS cached_audio
    FROM usage
)
SELECT
    s.ordinal,
    p.anchor_pos,
    s.session,
    s.file,
    p.response_id,
    s.model,
    coalesce(p.done ->> 'status', p.created ->> 'status') AS status,
    p.done -> 'status_details' AS status_details,
    c.trigger,
    c.trigger_t,
    round((p.first_audio_t - c.trigger_t) * 1000, 3) AS ttfb_ms,
    round((p.first_delta_t - c.trigger_t) * 1000, 3) AS ttft_ms,
    round((p.done_t - p.created_t) * 1000, 3) AS duration_ms,
    round((p.first_audio_t - e.speech_end_t) * 1000, 3) AS voice_to_voice_ms,
    round(p.audio_out_bytes / o.bytes_per_ms, 3) AS audio_out_ms,
    u.input_tokens,
    u.output_tokens,
    u.input_text_tokens,
    u.input_audio_tokens,
    u.input_cached_tokens,
    u.output_text_tokens,
    u.output_audio_tokens,
    round((
        (u.input_text_tokens - k.cached_text) * m.text_input
        + k.cached_text * m.text_cached
        + (u.input_audio_tokens - k.cached_audio) * m.audio_input
        + k.cached_audio * m.audio_cached
        + u.output_text_tokens * m.text_output
        + u.output_audio_tokens * m.audio_output
    ) / 1e6, 8) AS cost_usd,
    p.created_t,
    p.done_t,
    p.done_pos
FROM per_response AS p
JOIN session_files AS s USING (ordinal)
JOIN claims AS c USING (ordinal, response_id)
JOIN output_formats AS o USING (ordinal, response_id)
JOIN usage AS u USING (ordinal, response_id)
JOIN cached AS k USING (ordinal, response_id)
LEFT JOIN speech_ends AS e USING (ordinal, response_id)
LEFT JOIN model_prices AS m ON m.model = s.model;
