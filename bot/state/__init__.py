"""The state: the SQLite schema with its migrations, the store, and the one-bot-per-file lock."""
