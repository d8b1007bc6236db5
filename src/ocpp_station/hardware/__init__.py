"""Hardware interfaces the station core codes against, and the simulated default behind them."""

from ocpp_station.hardware.interfaces import (
    CHARGE_POINT_FAULT_CODES,
    ConnectorHardware,
    HardwareListener,
    MeterReading,
    PowerMeter,
    RfidReader,
    StationHardware,
)
from ocpp_station.hardware.simulated import (
    EvModel,
    SimulatedConnector,
    SimulatedRfidReader,
    SimulatedStation,
)

__all__ = [
    "CHARGE_POINT_FAULT_CODES",
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
