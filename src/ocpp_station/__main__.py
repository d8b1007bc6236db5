import sys

from ocpp_station.cli import main

sys.exit(main())
