"""Histogram gradient-boosted trees: binning, histograms, split finding and growth.

Pure NumPy (and numba for the inner loops): nothing here imports dask. The
estimators in :mod:`daskgd.estimators.hgb` hand the grower a frame of the engine,
whose passes build the histograms chunk by chunk.
"""
