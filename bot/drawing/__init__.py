"""Drawing: the only package that touches model.serve. Pixels plus a torch-free description of
what was drawn (bot.conversation.drawn), which the texts describe."""
