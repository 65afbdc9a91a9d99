"""Training data: folders of images and the built-in emoji people to one cached uint8 tensor,
the held-out split, and the kinds of person with their skin tones (``kinds``: the labels the
built-in set's file names carry and people ask for)."""
