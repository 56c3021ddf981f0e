"""``python -m lamed``: the same as the ``lamed`` command."""

from lamed.cli.main import main

main()
