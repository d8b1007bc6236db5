// The fleet page: the summary from its live feed, a searchable table linking to each station page.
"use strict";

(() => {
  const { live, el, withToken } = Panel;
  const $ = (id) => document.getElementById(id);
  let last = null;

  const ms = (v) => (v === null || v === undefined ? "–" : v.toFixed(1) + " ms");
  const chips = (counts) =>
    Object.entries(counts).sort().map(([name, n]) => el("span", { "data-state": name, text: name + ": " + n }));

  function renderTable() {
    if (!last) return;
    const query = $("search").value.trim().toLowerCase();
    const rows = last.stations.filter(
      (s) => !query || s.chargeBoxId.toLowerCase().includes(query) || s.state.includes(query),
    );
    $("stations").replaceChildren(
      ...rows.map((s) =>
        el(
          "tr",
          { "data-station": s.chargeBoxId },
          el("td", {}, el("a", { href: withToken("/stations/" + encodeURIComponent(s.chargeBoxId)), text: s.chargeBoxId })),
          el("td", { text: s.state }),
          el("td", { text: s.connectors.map((c) => c.connectorId + ": " + c.status).join(", ") }),
          el("td", { text: (s.powerW / 1000).toFixed(2) + " kW" }),
          el("td", { text: s.msgsPerS.toFixed(2) }),
          el("td", { text: String(s.callErrors + s.timeouts) }),
        ),
      ),
    );
  }

  function onFleet(summary) {
    last = summary;
    $("total").textContent = String(summary.stations.length);
    $("rate").textContent = summary.msgsPerS.toFixed(2);
    const p = summary.responseTimeMs;
    $("latency").textContent = [p.p50, p.p90, p.p99].map(ms).join(" / ");
    $("call-errors").textContent = String(summary.callErrors);
    $("timeouts").textContent = String(summary.timeouts);
    $("counts").replaceChildren(...chips(summary.counts));
    $("connector-counts").replaceChildren(...chips(summary.connectorStatuses));
    renderTable();
  }

  function setFeed(online) {
    $("feed").textContent = online ? "live" : "offline";
    $("feed").className = "badge " + (online ? "live" : "offline");
  }

  $("search").addEventListener("input", renderTable);
  live("/api/fleet/events", { fleet: onFleet }, setFeed);
})();
