"""Drivers found through the `ocpp_station.drivers` entry points, built-in and out of tree."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

import pytest

from ocpp_station.hardware.drivers import DriverError, available_drivers, load_driver
from ocpp_station.hardware.drivers.modbus_meter import ModbusMeter
from tests.hardware.plugin import PLUGIN


def test_built_in_drivers_are_registered() -> None:
    assert "modbus" in available_drivers("meter")
    assert "mqtt" in available_drivers("bridge")


@pytest.mark.parametrize(
    ("part", "name", "options", "message"),
    [
        ("meter", "nosuch", {}, "unknown meter driver 'nosuch' (known: "),
        ("engine", "modbus", {}, "unknown hardware part 'engine'"),
        ("meter", "modbus", {"host": "127.0.0.1"}, "meter.modbus: missing option 'register_map'"),
        ("meter", "modbus", {"register_map": "sdm999", "host": "h"}, "meter.modbus: unknown register map 'sdm999'"),
        ("meter", "modbus", {"register_map": "abb_b23"}, "meter.modbus: missing option 'host'"),
        ("meter", "modbus", {"register_map": "abb_b23", "transport": "rtu"}, "meter.modbus: missing option 'device'"),
        ("meter", "modbus", {"register_map": "abb_b23", "host": "h", "port": 0}, "option 'port' must be an integer"),
        ("meter", "modbus", {"register_map": "abb_b23", "host": "h", "colour": 1}, "unknown option 'colour'"),
        ("bridge", "mqtt", {"host": "h"}, "bridge.mqtt: missing option 'station_id'"),
        ("bridge", "mqtt", {"host": "h", "station_id": "x", "fixed_cable": "no"}, "must be true or false"),
    ],
)
def test_bad_settings_are_one_line(part: str, name: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(DriverError) as error:
        load_driver(part, name, options)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_user_register_map_file(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text('name = "Mine"\n[registers]\nenergy_import_wh = { address = 0x10, type = "uint32", scale = 10 }\n')
    assert isinstance(load_driver("meter", "modbus", {"register_map": str(good), "host": "h"}), ModbusMeter)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Bad"\n[registers]\nenergy_import_wh = { address = 0x10, type = "float16" }\n')
    with pytest.raises(DriverError, match=r"bad.toml: registers.energy_import_wh.type must be one of"):
        load_driver("meter", "modbus", {"register_map": str(bad), "host": "h"})
    with pytest.raises(DriverError, match="No such file"):
        load_driver("meter", "modbus", {"register_map": str(tmp_path / "none.toml"), "host": "h"})


def test_the_plugin_metadata_says_what_its_pyproject_declares() -> None:
    declared = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]["entry-points"]
    installed = configparser.ConfigParser(delimiters=("=",))
    installed.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names are case-sensitive
    installed.read(PLUGIN / "acme_meter_driver-1.0.0.dist-info" / "entry_points.txt")
    assert {k: v for k, v in installed["ocpp_station.drivers"].items()} == declared["ocpp_station.drivers"]


async def test_an_out_of_tree_driver_is_picked_up_through_its_entry_point(installed_plugin: None) -> None:
    assert "acme" in available_drivers("meter")
    driver = load_driver("meter", "acme", {"energy_wh": 42.0})
    await driver.start()
    assert type(driver).__module__ == "acme_meter"
    read = getattr(driver, "read")  # noqa: B009 - the vendor's own type, unknown to the station
    assert read(1.0).energy_import_wh == 42.0
    await driver.stop()
    with pytest.raises(DriverError, match=r"meter\.acme: missing option 'energy_wh'"):
        load_driver("meter", "acme", {})
