"""Dataset adapters: fetching MovieLens 100k and generating a seeded synthetic event log."""
