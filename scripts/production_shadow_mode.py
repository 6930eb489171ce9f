"""Production shadow mode on the share of iterations a percentage rollout selects.

Deployment guide, Phase 3 production rollout. Stops at ``--duration-hours`` of
wall-clock time or ``--max-iterations`` shadowed iterations (default 500),
whichever comes first; ``--max-iterations 0`` runs for the whole duration.

Runs ``stratloop shadow production``; see ``--help`` for the options.
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["shadow", "production", *sys.argv[1:]])
