"""Sentiment backend names, in a torch-free module: the CLI and the job configs validate ``--backend`` before any
model (or torch) is imported; ``encoders.sentiment`` builds them."""

BACKENDS = ("llmos", "llmos-int8", "llmos-mpnet", "hf", "lm", "vader")
TRANSFORMER_BACKENDS = ("llmos", "llmos-int8", "llmos-mpnet", "hf")  # the ones that take --model-path and batches
