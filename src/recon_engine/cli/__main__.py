"""``python -m recon_engine.cli`` runs ``mrrecon``."""

import sys

from recon_engine.cli import main

sys.exit(main())
