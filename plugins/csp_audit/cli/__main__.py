import sys

from csp_audit.cli import main

sys.exit(main())
