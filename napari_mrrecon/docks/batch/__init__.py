"""The "Batch" dock: one recipe over many files on a Dask cluster (widget, results table, opening outputs)."""
