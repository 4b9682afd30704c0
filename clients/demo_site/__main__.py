"""``python -m clients.demo_site --site 1`` (see clients.demo_site.cli)."""

import sys

from clients.demo_site.cli import main

sys.exit(main())
