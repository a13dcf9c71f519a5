"""Oracles evaluate the objective over the data: in memory (NumPy) or distributed (dask)."""
