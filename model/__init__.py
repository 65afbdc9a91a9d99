"""Everything that knows tensors, in packages named for who uses them (docs/ARCHITECTURE.md):

- ``model.nets``: the networks, losses, augmentation, EMA and their weights files;
- ``model.data``: image folders, the built-in emoji people, the held-out split, the kinds table;
- ``model.train``: ``python -m model.train`` and the guard's fitting (``python -m model.guard``);
- ``model.serve``: the one door for the bot: a generator, its guard, seeds, latents, a reply;
- ``model.evaluate``: ``python -m model.evaluate`` and the metrics;
- ``model.curate``: ``python -m model.sample`` (sheets, keeping seeds, labels, the audit);
- ``model.explore``: ``python -m model.explore``, the latent explorer;
- ``model.bench``: ``python -m model.bench``;
- and four small modules any of them (and the bot) may use: ``errors``, ``device``, ``files``
  (atomic writes) and ``figures`` (the benchmarks' percentiles and targets).

Knows nothing of the bot: no module here imports ``bot`` (the explorer reads the bot's state
file by its schema, read-only). tests/test_boundaries.py checks both rules.
"""

__version__ = "0.1.0"
