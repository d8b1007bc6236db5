"""The pure station: behaviour driven by events and an injected clock, no I/O (OCPP 1.6 feature profiles)."""
