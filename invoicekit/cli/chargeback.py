"""``invoicekit chargeback``: charge a billing month back to business units per currency, adding up to the payable total (being built; the owner replaces this stub)."""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_SOFTWARE

HELP = "charge a billing month back to business units per currency, adding up to the payable total"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit chargeback``."""


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    print("invoicekit chargeback: not built yet")
    return EXIT_SOFTWARE
