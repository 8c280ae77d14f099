"""Readers for patient and protocol files that keep line and column for every error."""
