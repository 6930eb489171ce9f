"""Phase 4: drive rotation, compression and retention through the real writer."""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["audit", "rotation-drill", *sys.argv[1:]])
