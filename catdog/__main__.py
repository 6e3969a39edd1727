"""``python -m catdog``: the ``catdog`` command, for an environment whose scripts are not on PATH."""

import sys

from catdog.cli import main

sys.exit(main())
