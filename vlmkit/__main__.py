"""``python -m vlmkit``: the command line (:mod:`vlmkit.cli`)."""

from .cli import main

main()
