"""The immutable values ketaplan works on: patient, protocol and plan."""
