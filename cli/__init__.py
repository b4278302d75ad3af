"""The `rt` command line: parses options, calls `recorder`, renders results."""
