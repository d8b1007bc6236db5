"""Hardware interfaces the station core codes against, and the simulated default behind them."""

from ocpp_station.hardware.interfaces import (
    ConnectorHardware,
    HardwareListener,
    MeterReading,
    PowerMeter,
    RfidReader,
    StationHardware,
)
from ocpp_station.hardware.simulated import (
    ERROR_CODES,
    EvModel,
    SimulatedConnector,
    SimulatedRfidReader,
    SimulatedStation,
)

__all__ = [
    "ERROR_CODES",
    "ConnectorHardware",
    "EvModel",
    "HardwareListener",
    "MeterReading",
    "PowerMeter",
    "RfidReader",
    "SimulatedConnector",
    "SimulatedRfidReader",
    "SimulatedStation",
    "StationHardware",
]
