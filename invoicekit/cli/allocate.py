"""``invoicekit allocate``: split each invoice over member accounts, tags or cost categories, to the minor unit (being built; the owner replaces this stub)."""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_SOFTWARE

HELP = "split each invoice over member accounts, tags or cost categories, to the minor unit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit allocate``."""


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    print("invoicekit allocate: not built yet")
    return EXIT_SOFTWARE
