"""``invoicekit align``: tie invoices out to the cost-and-usage export (CUR 2.0 or FOCUS 1.2), per invoice id (being built; the owner replaces this stub)."""

from __future__ import annotations

import argparse

from invoicekit.cli import EXIT_SOFTWARE

HELP = "tie invoices out to the cost-and-usage export (CUR 2.0 or FOCUS 1.2), per invoice id"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``invoicekit align``."""


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    print("invoicekit align: not built yet")
    return EXIT_SOFTWARE
