"""The latent explorer, run as ``python -m model.explore``: its logic on lists and bytes
(``explorer``, ``labels``), the generator's main directions (``directions``), the bot's popular
pictures read from its state file (``popular``), the web app (``app``)
and the page (``static/``)."""
