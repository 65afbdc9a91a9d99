"""Social platforms behind one protocol: Mastodon, X and a local one that needs no account."""
