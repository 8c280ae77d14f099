"""The immutable values ketaplan works on: patient, protocol and plan (NamedTuples: cheap to create at start-up)."""
