-- Frames of hand-written files may have no `seq`: number every frame of such a file by time
-- (frames with equal `t` keep no particular order).
UPDATE records
SET seq = numbered.seq
FROM (
    SELECT rowid AS row_id, row_number() OVER (PARTITION BY ordinal ORDER BY t, seq) - 1 AS seq
    FROM records
    WHERE kind = 'frame'
      AND ordinal IN (SELECT ordinal FROM records WHERE kind = 'frame' AND seq IS NULL)
) AS numbered
WHERE records.rowid = numbered.row_id;
