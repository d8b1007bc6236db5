// The station page: state, chart and frames from the live feed; buttons call the control API.
"use strict";

(() => {
  const { call, live, el, showError, withToken } = Panel;
  const ID_TAG_MAX = 20; // OCPP 1.6 IdToken is a CiString20
  const CHART_POINTS = 300;
  const FRAME_ROWS = 500;
  const named = location.pathname.match(/^\/stations\/([^/]+)$/);
  const base = named ? "/api/stations/" + named[1] : "/api";

  let faultCodes = [];
  let connectorIds = new Set();
  let frames = [];
  let chart = null;
  let chartConnectors = [];
  let chartData = [];
  let lastState = null;

  document.getElementById("fleet-link").href = withToken("/fleet");
  const $ = (id) => document.getElementById(id);

  async function act(label, method, path, body) {
    try {
      await call(method, base + path, body);
      showError("");
    } catch (error) {
      showError(label + ": " + error.message);
    }
  }

  function requireConnector(id) {
    if (!connectorIds.has(id)) {
      showError("connector " + id + " does not exist on this station");
      return false;
    }
    return true;
  }

  // -- buttons --------------------------------------------------------------------------------------
  $("network-down").onclick = () => act("network down", "POST", "/network", { online: false });
  $("network-up").onclick = () => act("network up", "POST", "/network", { online: true });

  function presentTag(connectorId, input) {
    const idTag = input.value;
    if (!idTag) return showError("enter an idTag first");
    if (idTag.length > ID_TAG_MAX) {
      return showError("idTag is " + idTag.length + " characters; OCPP allows at most " + ID_TAG_MAX);
    }
    if (requireConnector(connectorId)) act("present idTag", "POST", "/rfid", { idTag, connectorId });
  }

  function injectFault(connectorId, select) {
    const errorCode = select.value;
    if (!faultCodes.includes(errorCode)) return showError("choose a fault to inject");
    if (requireConnector(connectorId)) {
      act("inject " + errorCode, "POST", "/connectors/" + connectorId + "/fault", { errorCode });
    }
  }

  // -- connectors -----------------------------------------------------------------------------------
  function field(label, key, connectorId) {
    return [el("dt", { text: label }), el("dd", { "data-testid": key + "-" + connectorId, class: key })];
  }

  function connectorCard(connectorId) {
    const station = connectorId === 0;
    const faults = el("select", { "data-testid": "fault-code-" + connectorId });
    faults.append(el("option", { value: "", text: "fault…" }));
    for (const code of faultCodes) faults.append(el("option", { value: code, text: code }));
    const actions = el("div", { class: "actions" });
    if (!station) {
      const tag = el("input", { placeholder: "idTag", maxlength: "40", "data-testid": "id-tag-" + connectorId });
      actions.append(
        el("button", { "data-testid": "plug-" + connectorId, text: "Plug in", onclick: () =>
          requireConnector(connectorId) && act("plug", "POST", "/connectors/" + connectorId + "/plug") }),
        el("button", { "data-testid": "unplug-" + connectorId, text: "Unplug", onclick: () =>
          requireConnector(connectorId) && act("unplug", "POST", "/connectors/" + connectorId + "/unplug") }),
        tag,
        el("button", { "data-testid": "swipe-" + connectorId, text: "Present idTag",
          onclick: () => presentTag(connectorId, tag) }),
      );
      tag.addEventListener("keydown", (event) => event.key === "Enter" && presentTag(connectorId, tag));
    }
    actions.append(
      faults,
      el("button", { "data-testid": "inject-" + connectorId, text: "Inject", onclick: () => injectFault(connectorId, faults) }),
      el("button", { "data-testid": "clear-fault-" + connectorId, text: "Clear fault", onclick: () =>
        requireConnector(connectorId) && act("clear fault", "DELETE", "/connectors/" + connectorId + "/fault") }),
    );
    const rows = [field("status", "status", connectorId), field("errorCode", "error-code", connectorId)];
    if (!station) {
      rows.push(
        field("plugged / locked", "plugged", connectorId),
        field("transaction", "transaction", connectorId),
        field("idTag", "tag", connectorId),
      );
    }
    rows.push(field("energy", "energy", connectorId), field("power", "power", connectorId));
    if (!station) rows.push(field("limit", "limit", connectorId));
    return el(
      "article",
      { class: "card connector", "data-testid": "connector-" + connectorId },
      el("h2", { text: station ? "Station (connector 0)" : "Connector " + connectorId }),
      el("dl", {}, ...rows.flat()),
      actions,
    );
  }

  const statusClass = (status) =>
    ({ Available: "ok", Charging: "ok", Faulted: "bad", Unavailable: "bad" })[status] || "warn";
  const kw = (w) => (w === null || w === undefined ? "–" : (w / 1000).toFixed(2) + " kW");

  function renderConnectors(connectors) {
    const ids = connectors.map((c) => c.connectorId);
    if (ids.join() !== [...connectorIds].join() || !$("connectors").children.length) {
      connectorIds = new Set(ids);
      $("connectors").replaceChildren(...ids.map(connectorCard));
    }
    for (const c of connectors) {
      const set = (key, text, cls) => {
        const node = document.querySelector(`[data-testid="${key}-${c.connectorId}"]`);
        if (node) {
          node.textContent = text;
          if (cls !== undefined) node.className = key + " " + cls;
        }
      };
      set("status", c.status, statusClass(c.status));
      set("error-code", c.errorCode, c.errorCode === "NoError" ? "" : "bad");
      set("plugged", (c.pluggedIn ? "plugged" : "unplugged") + " / " + (c.locked ? "locked" : "unlocked"));
      set("transaction", c.transactionId === null ? "–" : String(c.transactionId));
      set("tag", c.idTag || "–");
      set("energy", Number(c.energyWh).toFixed(1) + " Wh");
      set("power", kw(c.powerW));
      set("limit", kw(c.limitW));
    }
  }

  // -- chart ----------------------------------------------------------------------------------------
  function resetChart(connectors) {
    chartConnectors = connectors.filter((c) => c.connectorId !== 0).map((c) => c.connectorId);
    const palette = ["#0b5cad", "#1a7f37", "#8e24aa", "#c62828"];
    const series = [{}];
    chartConnectors.forEach((id, i) => {
      const stroke = palette[i % palette.length];
      series.push({ label: "power " + id + " (kW)", stroke, width: 2 });
      series.push({ label: "limit " + id + " (kW)", stroke, dash: [6, 4], width: 1 });
    });
    chartData = [[], ...series.slice(1).map(() => [])];
    if (chart) chart.destroy();
    chart = new uPlot(
      { width: Math.max(320, $("chart").clientWidth - 8), height: 240, series, axes: [{}, { label: "kW" }] },
      chartData,
      $("chart"),
    );
  }

  function plot(state) {
    const ids = state.connectors.filter((c) => c.connectorId !== 0).map((c) => c.connectorId);
    if (!chart || ids.join() !== chartConnectors.join()) resetChart(state.connectors);
    chartData[0].push(Date.now() / 1000);
    chartConnectors.forEach((id, i) => {
      const c = state.connectors.find((x) => x.connectorId === id);
      chartData[1 + 2 * i].push(c ? c.powerW / 1000 : null);
      chartData[2 + 2 * i].push(c && c.limitW !== null ? c.limitW / 1000 : null);
    });
    if (chartData[0].length > CHART_POINTS) chartData.forEach((column) => column.shift());
    chart.setData(chartData);
    $("chart").dataset.points = String(chartData[0].length); // lets scripts wait for a drawn history
  }

  // -- frames ---------------------------------------------------------------------------------------
  function frameRow(f) {
    const time = new Date(f.at * 1000).toLocaleTimeString();
    const arrow = f.direction === "sent" ? "→ CSMS" : "← CSMS";
    const type = f.type + (f.responseTimeS !== null ? " (" + Math.round(f.responseTimeS * 1000) + " ms)" : "");
    return el(
      "tr",
      { class: f.direction + (f.type === "error" ? " error" : ""), "data-action": f.action },
      el("td", { text: time }),
      el("td", { class: "dir", text: arrow }),
      el("td", { text: type }),
      el("td", { text: f.action }),
      el("td", { class: "payload", text: JSON.stringify(f.payload) }),
    );
  }

  function addActionOption(action) {
    const select = $("frame-filter");
    if (!action || [...select.options].some((o) => o.value === action)) return;
    select.append(el("option", { value: action, text: action }));
  }

  function renderFrames() {
    const wanted = $("frame-filter").value;
    const shown = frames.filter((f) => !wanted || f.action === wanted).slice(-FRAME_ROWS).reverse();
    $("frames").replaceChildren(...shown.map(frameRow));
  }

  function addFrame(f) {
    frames.push(f);
    if (frames.length > FRAME_ROWS) frames.shift();
    addActionOption(f.action);
    const wanted = $("frame-filter").value;
    if (!wanted || f.action === wanted) $("frames").prepend(frameRow(f));
    while ($("frames").children.length > FRAME_ROWS) $("frames").lastChild.remove();
  }

  $("frame-filter").onchange = renderFrames;

  // -- details and the live feed --------------------------------------------------------------------
  async function loadDetails() {
    const details = await call("GET", base + "/details");
    faultCodes = details.faultCodes;
    $("charge-box-id").textContent = details.chargeBoxId;
    document.title = details.chargeBoxId + " · ocpp-station";
    $("configuration").replaceChildren(
      ...details.configuration.map((k) =>
        el("tr", { "data-key": k.key }, el("td", { text: k.key }), el("td", { text: k.value ?? "" }),
          el("td", { text: k.readonly ? "yes" : "" })),
      ),
    );
    // The cards' fault menus are built from the codes just loaded.
    $("connectors").replaceChildren();
    if (lastState && lastState.running) renderConnectors(lastState.connectors);
    const log = await call("GET", base + "/frames");
    frames = log.frames;
    for (const f of frames) addActionOption(f.action);
    renderFrames();
  }

  function setFeed(online) {
    $("feed").textContent = online ? "live" : "offline";
    $("feed").className = "badge " + (online ? "live" : "offline");
    if (!online) {
      $("connection").textContent = "offline";
      $("connection").className = "bad";
    } else {
      // A restarted station is a new process: its frames, keys and firmware may all have changed.
      loadDetails().catch((error) => showError("loading the station: " + error.message));
    }
  }

  function onState(state) {
    lastState = state;
    if (!state.running) {
      $("connection").textContent = "restarting";
      $("connection").className = "warn";
      return;
    }
    $("charge-box-id").textContent = state.chargeBoxId;
    $("connection").textContent = state.connected ? "connected" : "disconnected";
    $("connection").className = state.connected ? "ok" : "bad";
    $("registration").textContent = state.registration || "pending";
    $("firmware").textContent = state.firmwareVersion || "–";
    renderConnectors(state.connectors);
    plot(state);
  }

  live(base + "/events", { state: onState, frame: addFrame }, setFeed);
})();
