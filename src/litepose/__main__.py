import sys

from litepose.cli import main

sys.exit(main())
