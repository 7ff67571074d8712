"""Named study definitions (typed data: space, backbone, objectives, budgets, sampler).

Definitions arrive with the search (``python -m nas.search``); this package imports ``space`` only.
"""
