"""Where the out-of-tree driver package of the tests lives (`plugin_pkg/`, laid out as pip installs it)."""

from __future__ import annotations

from pathlib import Path

PLUGIN = Path(__file__).parent / "plugin_pkg"
