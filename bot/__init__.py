"""The reply service: platforms, state and the poll loop.

Imports model.sampler and model.checkpoint, never the training code.
"""
