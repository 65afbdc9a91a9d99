"""The command line: what `python -m bot` runs (bot/__main__.py parses and wires; each command
is here)."""
