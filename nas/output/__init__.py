"""The output layer: HTML pages, figures, model export and provenance."""
