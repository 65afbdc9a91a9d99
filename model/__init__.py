"""Everything that knows tensors: networks, losses, data, training, sampling and metrics.

Knows nothing of the bot: no module here imports ``bot`` (the one exception: the explorer's
``--state`` option reads the bot's state file through ``bot.state``, imported only then). The
bot uses this package only through its serving API: ``model.sampler``, ``model.kinds`` (the
kinds table), ``model.checkpoint``, ``model.device`` and ``model.errors``.
tests/test_boundaries.py checks both rules; docs/ARCHITECTURE.md says what each module does.
"""

__version__ = "0.1.0"
