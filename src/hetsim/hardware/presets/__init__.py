"""Hardware presets, one YAML file per device or system."""
