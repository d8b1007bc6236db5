// The fleet page: the summary from its live feed, a searchable table linking to each station page. The server
// sends the rows of the first stations that match the search (a fleet may have tens of thousands): a new search
// opens the feed again with it.
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
    const rows = last.stations;
    const matching = last.matching ?? rows.length;
    $("shown").textContent = rows.length + " of " + matching + " shown";
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
    $("total").textContent = String(summary.total ?? summary.stations.length);
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

  let close = null;
  let typing = null;
  function follow() {
    if (close) close();
    const query = $("search").value.trim();
    close = live("/api/fleet/events" + (query ? "?q=" + encodeURIComponent(query) : ""), { fleet: onFleet }, setFeed);
  }

  $("search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(follow, 250);
  });
  follow();
})();
