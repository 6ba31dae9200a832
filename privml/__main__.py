import sys

from privml.cli import main

sys.exit(main())
