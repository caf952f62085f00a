"""The benchmark: the platform against plain PySpark and DuckDB (see bench/run.py, `make bench`)."""
