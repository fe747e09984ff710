"""``python -m urbanseg_core.cli``: the ``urbanseg`` command."""

from .main import main

main()
