"""``python -m xaiutils``: the command line (see :mod:`xaiutils.cli`)."""

import sys

from xaiutils.cli import main

sys.exit(main())
