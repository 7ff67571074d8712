"""The analysis layer: statistics, Pareto fronts and hypervolume, noise-aware fronts, sub-spaces, fidelity.

Reads records from the study layer; never imports torch.
"""
