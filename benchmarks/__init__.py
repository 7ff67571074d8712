"""Measurements run by hand (``make bench``), not tests: each prints ratios measured side by side."""

import nas  # noqa: F401  (before torch: the OpenMP spin count every nas command runs with)
