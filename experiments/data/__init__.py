"""Published data the experiments read (validation_cases.csv)."""
