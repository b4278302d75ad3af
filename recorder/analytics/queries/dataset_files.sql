-- The session files of a dataset's `sessions` rows (loaded as `dataset_rows`), in file order.
SELECT DISTINCT file FROM dataset_rows ORDER BY file;
