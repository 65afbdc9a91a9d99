"""The throughput benchmark, run as ``python -m model.bench``: training (``training``, beside the
plain DCGAN yardstick of ``baseline``) and generation (``generation``)."""
