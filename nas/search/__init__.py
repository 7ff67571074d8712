"""The search layer: the objective, the one sampling seam, samplers, halving, re-training, progress.

``python -m nas.search`` is ``nas/search/__main__.py``; nothing imports it.
"""
