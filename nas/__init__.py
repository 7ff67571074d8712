"""Everything that runs: cost counting, (later) training, search, report and export CLIs."""
