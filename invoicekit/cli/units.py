"""``invoicekit units``: list the invoice units of a fleet (one row per unit and member account) into a file (being built; the owner replaces this stub)."""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_SOFTWARE

HELP = "list the invoice units of a fleet (one row per unit and member account) into a file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit units``."""


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    print("invoicekit units: not built yet")
    return EXIT_SOFTWARE
