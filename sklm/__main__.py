"""``python -m sklm``: the ``sklm`` command."""

import sys

from .cli import main

sys.exit(main())
