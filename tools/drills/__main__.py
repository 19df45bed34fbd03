"""`python -m tools.drills`: every fault drill; writes docs/drills.md."""

import sys

from tools.drills.suite import main

sys.exit(main())
