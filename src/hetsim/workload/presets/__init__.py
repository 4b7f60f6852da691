"""Model presets, one YAML file per model."""
