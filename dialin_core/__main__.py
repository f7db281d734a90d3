"""`python -m dialin_core`: see dialin_core.cli."""

import sys

from dialin_core.cli import main

sys.exit(main())
