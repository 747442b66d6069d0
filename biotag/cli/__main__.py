"""``python -m biotag.cli``: the command line."""

import sys

from biotag.cli import main

sys.exit(main())
