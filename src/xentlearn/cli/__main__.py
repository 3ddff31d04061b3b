"""``python -m xentlearn.cli``: the same as the ``xentlearn`` command."""

import sys

from xentlearn.cli import main

sys.exit(main())
