"""The conversation, pure: no I/O and no torch. Commands, kinds and tones read from text, the
decision, and every sentence the bot posts."""
