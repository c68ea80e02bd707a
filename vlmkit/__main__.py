"""``python -m vlmkit``: the command line (:mod:`vlmkit.cli`)."""

from vlmkit.cli import main

main()
