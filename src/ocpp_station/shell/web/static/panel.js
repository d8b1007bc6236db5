// Shared by the station and fleet pages: the API token, API calls that surface the API's error text,
// and live feeds that come back after the station restarts.
"use strict";

const Panel = (() => {
  const token = new URLSearchParams(location.search).get("token");

  function withToken(url) {
    if (!token) return url;
    return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  async function call(method, url, body) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw new Error("the station does not answer (" + error.message + ")");
    }
    const text = await response.text();
    let doc = null;
    try {
      doc = JSON.parse(text);
    } catch (_) {
      doc = null;
    }
    if (!response.ok) {
      throw new Error(doc && doc.error ? doc.error : response.status + " " + response.statusText);
    }
    return doc;
  }

  // An EventSource that is rebuilt when the browser gives up on it (a refused connection closes it
  // for good), so a restarted station is picked up again without a reload.
  // Returns a function that closes the feed for good (a page that opens it again with other parameters).
  function live(url, handlers, onStatus) {
    let source = null;
    let closed = false;
    function open() {
      if (closed) return;
      source = new EventSource(withToken(url));
      source.onopen = () => onStatus(true);
      source.onerror = () => {
        onStatus(false);
        if (source.readyState === EventSource.CLOSED) setTimeout(open, 1000);
      };
      for (const [name, handler] of Object.entries(handlers)) {
        source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
      }
    }
    open();
    return () => {
      closed = true;
      if (source) source.close();
    };
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  return { token, withToken, call, live, el, showError };
})();
