"""The fleet shell: thousands of full stations in one process, one event loop, one timer structure.

`ocpp-station fleet` (fleet/command.py) builds stations with the composition root (`assemble`), drives each with
a lean connection driver (driver.py) over websockets' sans-I/O protocol, and wakes them from one shared heap of
deadlines (timers.py) instead of a task per station. See docs/fleet.md.
"""
