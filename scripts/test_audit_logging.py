"""Phase 4, Test 1: run N iterations with the audit trail on and check N valid records.

python scripts/test_audit_logging.py --iterations 100 --environment staging \
        --output staging_audit_test.jsonl
"""

import sys

from stratloop.cli import main

if __name__ == "__main__":
    main(["loop", "check-audit-logging", *sys.argv[1:]])
