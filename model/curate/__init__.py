"""Curating good seeds from the command line, run as ``python -m model.sample`` (``cli``):
pictures, numbered sheets and keeping their numbers (``sheets``), labels from the nearest
training picture (``labels``), and the audit of every seed by its replies (``audit``)."""
