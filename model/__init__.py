"""Everything that knows tensors: networks, losses, data, training, sampling and metrics.

Knows nothing of social networks; ``bot`` depends on it only through ``model.sampler`` and
``model.checkpoint``.
"""

__version__ = "0.1.0"
