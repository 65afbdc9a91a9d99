"""Social platforms behind one protocol: Mastodon, X and a local one that needs no account.

A platform knows HTTP and files, never tensors: it is handed PNG or GIF bytes and alt text, and
imports neither torch nor ``model`` (tests/test_boundaries.py).
"""
