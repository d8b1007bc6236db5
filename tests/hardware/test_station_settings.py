"""Drivers chosen by the station's settings: an out-of-tree driver picked up without touching the station, and
bad driver settings stopping `ocpp-station run` with one line."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import cast

import pytest

from ocpp_station.assemble import build_hardware
from ocpp_station.cli import main
from ocpp_station.hardware.composed import ComposedStation
from ocpp_station.hardware.simulated_parts import SimulatedBoard, SimulatedTokens
from ocpp_station.settings import SettingsError, parse_settings
from ocpp_station.stores.memory import MemoryStore
from tests.support.core_driver import CoreDriver


async def test_an_out_of_tree_meter_named_in_settings_meters_a_charge(installed_plugin: None) -> None:
    settings = parse_settings({"hardware": {"connectors": 1, "meter": {"driver": "acme", "energy_wh": 4242.0}}})
    hardware = build_hardware(settings.hardware, MemoryStore())
    assert [type(d).__module__ for d in hardware.drivers] == [
        "ocpp_station.hardware.simulated_parts",  # the board, simulated by default
        "acme_meter",
        "ocpp_station.hardware.simulated_parts",  # the reader
    ]
    assert isinstance(hardware.drivers[0], SimulatedBoard) and isinstance(hardware.drivers[2], SimulatedTokens)
    cp = CoreDriver(hardware=hardware.station, controls=hardware.controls, settings=settings)
    cp.connect()
    cp.controls.plug(cp.clock.now(), 1)
    cp.controls.present_id_tag("TAG-1", None)
    cp.pump()
    cp.unplug(1)
    cp.pump()
    sent = dict(cp.take())
    assert sent["StartTransaction"]["meterStart"] == 4242
    assert sent["StopTransaction"]["meterStop"] == 4242


def test_two_connectors_take_one_table_per_connector() -> None:
    settings = parse_settings(
        {
            "hardware": {
                "connectors": 2,
                "board": [{"driver": "simulated", "max_current_a": 16.0}, {"driver": "simulated"}],
            }
        }
    )
    # [hardware.board] tables: the station is built from parts.
    station = cast(ComposedStation, build_hardware(settings.hardware, MemoryStore()).station)
    assert [c.board.max_current_a for c in station.connectors] == [16.0, 32.0]


@pytest.mark.parametrize(
    ("hardware", "expected"),
    [
        ({"meter": {"driver": "nosuch"}}, "hardware.meter: unknown meter driver 'nosuch' (known: "),
        ({"meter": {"register_map": "abb_b23"}}, 'hardware.meter: missing driver = "<name>"'),
        (
            {"meter": {"driver": "modbus", "register_map": "abb_b23"}},
            "hardware.meter: meter.modbus: missing option 'host'",
        ),
        (
            {"meter": {"driver": "modbus", "register_map": "sdm999", "host": "h"}},
            "meter.modbus: unknown register map 'sdm999'",
        ),
        ({"bridge": {"driver": "mqtt", "host": "h"}}, "hardware.bridge: bridge.mqtt: missing option 'station_id'"),
        ({"contactor": {"driver": "x"}}, "hardware.contactor: unknown hardware part"),
        ({"meter": {"driver": "modbus"}, "connectors": 2}, "give one [[hardware.meter]] table each"),
        ({"board": {"driver": "simulated", "volts": 1}}, "board.simulated: unknown option 'volts'"),
    ],
)
def test_bad_driver_settings_are_one_line(hardware: dict[str, object], expected: str) -> None:
    settings = parse_settings({"hardware": {"connectors": 1, **hardware}})
    with pytest.raises(SettingsError) as error:
        build_hardware(settings.hardware, MemoryStore())
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_bad_driver_settings_stop_the_command_line_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    config = tmp_path / "station.toml"
    config.write_text('[hardware]\nconnectors = 1\n[hardware.meter]\ndriver = "modbus"\nregister_map = "abb_b23"\n')
    args = ["run", "--csms", f"ws://127.0.0.1:{closed_port}/ocpp", "--id", "CP-1", "--data-dir", str(tmp_path)]
    code = main([*args, "--api", "127.0.0.1:0", "--config", str(config)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("ocpp-station:")]
    assert errors == ["ocpp-station: hardware.meter: meter.modbus: missing option 'host'"], err
    assert "Traceback" not in "\n".join(err)
