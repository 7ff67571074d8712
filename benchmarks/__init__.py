"""Measurements run by hand (``make bench``), not tests: each prints ratios measured side by side."""
