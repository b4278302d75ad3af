-- Records every other reader skips as invalid (counted and reported by damaged_files first):
-- frames, open, close and error records without a usable `t`.
DELETE FROM records
WHERE kind IN ('frame', 'open', 'close', 'error') AND NOT valid_t(t);
