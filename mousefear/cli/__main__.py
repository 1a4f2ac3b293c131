"""``python -m mousefear.cli``: the ``mousefear`` command."""

import sys

from mousefear.cli.app import main

sys.exit(main())
