"""Former home of the PDF archive, now the package :mod:`invoicekit.archive` (re-exports it)."""

from invoicekit.archive import *  # noqa: F403
from invoicekit.archive import __all__  # noqa: F401
