-- How many responses of each kind (CONTRACT §4.1, §4.4), every kind listed.
SELECT k.kind, count(r.kind) AS responses
FROM (VALUES ('turn', 1), ('out_of_band', 2), ('idle_timeout', 3), ('live_turn', 4)) AS k(kind, ordinal)
LEFT JOIN responses AS r USING (kind)
GROUP BY k.kind, k.ordinal
ORDER BY k.ordinal;
