"""Running the station as a system service (systemd)."""
