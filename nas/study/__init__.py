"""The study layer: storages, the record vocabulary, records, naming and companion studies.

Optuna only: reading a study (report, analysis, export of a spec) never needs torch.
"""
