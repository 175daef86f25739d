"""``python -m stacks``: the stack tools (see ``stacks.cli``)."""

import sys

from stacks.cli import main

sys.exit(main(own_process=True))
