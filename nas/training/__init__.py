"""Training: the loop, the proxy trainer, full training, measured cost and latency."""
