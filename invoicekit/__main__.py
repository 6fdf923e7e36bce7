import sys

from invoicekit.cli import main

sys.exit(main())
