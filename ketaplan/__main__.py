"""`python -m ketaplan` runs the command line."""

from ketaplan.cli import main

main()
