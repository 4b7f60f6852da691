"""``python -m hetsim`` runs the command-line interface."""

from hetsim.cli import main

main()
