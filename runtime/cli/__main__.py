"""``python -m mammoedge.runtime.cli``."""

import sys

from . import main

sys.exit(main())
