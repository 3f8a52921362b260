import sys

from qmtl_validate.cli import main

sys.exit(main())
