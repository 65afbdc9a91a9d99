"""Training, run as ``python -m model.train`` (``__main__``): the options and their flags, one
step, the loop (read ``loop.py`` first), resuming, data parallelism, the export the bot loads,
the conditioning experiment, and fitting the serving guard (``fit_guard``: ``python -m
model.guard``)."""
