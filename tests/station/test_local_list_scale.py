"""Scale: a 100 000-entry Local Authorization List installed over WebSocket in SendLocalListMaxLength
(400-entry) chunks, against the real station, which must stay live meanwhile and then start a transaction
for a listed idTag without Authorize.req.

Liveness, not speed, is asserted: every bound is far above what a slow machine needs and only a stalled
event loop (a chunk that blocks the station for seconds) could exceed it. bench/bench_local_list.py prints
the figures.
"""

from __future__ import annotations

from pathlib import Path

from ocpp_station.tools.harness.case import LOCAL_AUTH_LIST_MANAGEMENT, CaseContext, TestCase, check
from ocpp_station.tools.harness.runner import run_case
from ocpp_station.tools.harness.settings import HarnessSettings
from ocpp_station.tools.harness.station_under_test import InProcessStation, in_process_factory
from ocpp_station.tools.local_list_load import LoadFigures, install_list, load_tag, start_without_authorize

ENTRIES = 100_000
CHUNK = 400  # the station's SendLocalListMaxLength
# A generous case timeout: the load takes seconds here, but a loaded CI machine may be much slower.
SETTINGS = HarnessSettings(case_timeout=900.0)
# Bounds of liveness (the station's response_timeout-like limits), not of speed.
MAX_ANSWER_S = 10.0
MAX_CONTROL_S = 10.0
HEARTBEAT_SLACK_S = 10.0


async def test_a_100k_list_installs_in_chunks_while_the_station_stays_live(tmp_path: Path) -> None:
    figures: list[LoadFigures] = []

    async def scenario(ctx: CaseContext) -> None:
        loaded = await install_list(ctx, ENTRIES, CHUNK)
        figures.append(loaded)
        check(loaded.list_version == ENTRIES // CHUNK, f"listVersion {loaded.list_version}")
        assert isinstance(ctx.station, InProcessStation) and ctx.station.runtime is not None
        store = ctx.station.runtime.core.store
        check(store.local_list_size() == ENTRIES, f"the list holds {store.local_list_size()} entries")
        # A listed idTag from the middle of the load starts with no Authorize.req (LocalPreAuthorize).
        await start_without_authorize(ctx, load_tag(73_517))

    case = TestCase("SCALE", "100k local list", LOCAL_AUTH_LIST_MANAGEMENT, "scale", "-", scenario)
    factory = in_process_factory(SETTINGS.charge_box_id)
    result = await run_case(case, settings=SETTINGS, station_factory=factory, data_root=tmp_path)
    assert result.passed, result.describe()[:5000]
    (loaded,) = figures
    print("\n" + loaded.summary())
    assert max(loaded.answer_s) < MAX_ANSWER_S, loaded.summary()
    assert max(loaded.probe_s) < MAX_ANSWER_S, loaded.summary()
    assert loaded.probe_s and loaded.control_s, "the probes never ran during the load"
    assert max(loaded.control_s) < MAX_CONTROL_S, loaded.summary()
    assert max(loaded.heartbeat_gaps) < SETTINGS.heartbeat_interval + HEARTBEAT_SLACK_S, loaded.summary()
