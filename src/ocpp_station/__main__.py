import sys

from ocpp_station.shell.cli import main

sys.exit(main())
