"""ketaplan: drafts individualised IV ketamine treatment plans from a clinic's protocol rules."""

__version__ = "0.1.0"
