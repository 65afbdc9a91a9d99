"""``python -m model.guard``: fit the serving guard; its code is model/train/fit_guard.py (the
ranking at serving time is model/serve/guard.py)."""

from model.errors import run_cli
from model.train.fit_guard import main

if __name__ == "__main__":
    run_cli(main)
