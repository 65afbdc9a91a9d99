"""The reply service: settings, the state file, the poll loop and the platforms.

Uses ``model`` only through its serving API, ``model.serve`` (plus the shared ``model.errors``,
``model.device``, ``model.files`` and ``model.figures``), never the training code;
``bot.platforms`` imports neither torch nor ``model`` (tests/test_boundaries.py).
"""
