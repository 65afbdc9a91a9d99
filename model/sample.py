"""``python -m model.sample``: the curation command; its code is model/curate/ (cli.py)."""

from model.curate.cli import main
from model.errors import run_cli

if __name__ == "__main__":
    run_cli(main)
