"""``python -m migration``: see migration.cli."""

import sys

from migration.cli import main

sys.exit(main())
