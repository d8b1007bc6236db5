"""The end report of a fleet run: a table on stdout, the same as JSON (`--report`), mergeable across shards."""

from __future__ import annotations

from typing import IO, Any

from ocpp_station.fleet.stats import FleetStats


def report_document(stats: FleetStats, counts: dict[str, int], elapsed_s: float, shards: int = 1) -> dict[str, Any]:
    actions = sorted(set(stats.sent) | set(stats.response_time))
    per_action = {}
    for action in actions:
        h = stats.response_time.get(action)
        per_action[action] = {
            "sent": stats.sent.get(action, 0),
            "call_errors": stats.call_errors.get(action, 0),
            "p50_s": None if h is None else h.quantile(0.50),
            "p95_s": None if h is None else h.quantile(0.95),
            "p99_s": None if h is None else h.quantile(0.99),
        }
    return {
        "shards": shards,
        "elapsed_s": elapsed_s,
        "stations": counts,
        "messages_per_s": (sum(stats.sent.values()) + sum(stats.received.values())) / elapsed_s if elapsed_s else 0,
        "actions": per_action,
        "received": dict(stats.received),
        "errors": dict(stats.errors),
        "sessions": stats.sessions,
        "energy_wh": stats.energy_wh,
        "boot_all_s": stats.booted_at,
        "stats": stats.to_json(),  # raw counters and histograms, so shard reports merge exactly
    }


def merge_documents(documents: list[dict[str, Any]]) -> dict[str, Any]:
    stats = FleetStats()
    counts: dict[str, int] = {}
    elapsed = 0.0
    for doc in documents:
        stats.merge(FleetStats.from_json(doc["stats"]))
        for key, value in doc["stations"].items():
            counts[key] = counts.get(key, 0) + int(value)
        elapsed = max(elapsed, float(doc["elapsed_s"]))
    return report_document(stats, counts, elapsed, shards=sum(int(d.get("shards", 1)) for d in documents))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def print_report(doc: dict[str, Any], out: IO[str]) -> None:
    s = doc["stations"]
    boot = doc["boot_all_s"]
    out.write(
        f"\nfleet report: {s.get('stations', 0)} stations ({doc['shards']} shard(s)), {doc['elapsed_s']:.0f} s, "
        f"{doc['messages_per_s']:.0f} msgs/s, boot all {'-' if boot is None else f'{boot:.1f} s'}\n"
    )
    out.write(f"{'action':<28}{'sent':>10}{'CallError':>11}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}\n")
    for action, row in doc["actions"].items():
        out.write(
            f"{action:<28}{row['sent']:>10}{row['call_errors']:>11}"
            f"{_ms(row['p50_s']):>10}{_ms(row['p95_s']):>10}{_ms(row['p99_s']):>10}\n"
        )
    for action, n in sorted(doc["received"].items()):
        out.write(f"{'← ' + action:<28}{n:>10}\n")
    errors = ", ".join(f"{k} {v}" for k, v in sorted(doc["errors"].items())) or "none"
    out.write(f"errors: {errors}\n")
    out.write(f"sessions: {doc['sessions']}, energy delivered: {doc['energy_wh'] / 1000:.1f} kWh\n")
