"""Training: the loop, the proxy trainer, nested budgets, full training (DDP)."""
