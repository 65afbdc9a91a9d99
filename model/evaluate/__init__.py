"""Scoring, run as ``python -m model.evaluate``: a weights folder's plain and served samples
against a data set (``score``) with the metrics: sliced Wasserstein distance (``swd``),
precision / recall / density / coverage (``prdc``), held-out memorisation (``memorisation``), in
the features of a fixed random network (``features``)."""
