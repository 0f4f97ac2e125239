// The console's one script: the list refreshes itself, the timeline zooms, and the instance
// page's and the schedules' actions call the JSON API (after a confirmation) and show its answer. Everything
// else is plain HTML, so a page reads fine without it.
"use strict";

// The list: every 2 s, the same URL again, and its rows and counts in place of these.
function refreshList() {
  const table = document.querySelector("table#instances");
  if (!table) return;
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(location.href, { headers: { accept: "text/html" } });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const selector of ["table#instances tbody", "#counts", "p.summary"]) {
        const fresh = page.querySelector(selector);
        const stale = document.querySelector(selector);
        if (fresh && stale) stale.replaceWith(fresh);
      }
    } catch (_) {
      // The server restarts or the network drops: the next tick tries again.
    }
  }, 2000);
}

// The timeline: + and - (or Ctrl + wheel) widen and narrow the time axis, 0 fits it.
function zoomTimeline() {
  const picture = document.querySelector(".picture");
  if (!picture) return;
  let zoom = 1;
  const apply = (next, anchor) => {
    const before = picture.scrollLeft + anchor;
    const ratio = Math.min(Math.max(next, 1), 256) / zoom;
    zoom *= ratio;
    picture.style.setProperty("--zoom", zoom);
    picture.scrollLeft = before * ratio - anchor;
  };
  picture.addEventListener("keydown", (event) => {
    if (event.key === "+" || event.key === "=") apply(zoom * 2, picture.clientWidth / 2);
    else if (event.key === "-") apply(zoom / 2, picture.clientWidth / 2);
    else if (event.key === "0") apply(1, 0);
    else return;
    event.preventDefault();
  });
  picture.addEventListener("wheel", (event) => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    const anchor = event.clientX - picture.getBoundingClientRect().left;
    apply(event.deltaY < 0 ? zoom * 1.25 : zoom / 1.25, anchor);
  }, { passive: false });
}

// The actions: each asks first, then calls the API and shows its status and answer.
function actions() {
  const section = document.querySelector("section.actions");
  if (!section) return;
  const api = section.dataset.api;
  const result = document.querySelector("#action-result");
  const call = async (method, path, body) => {
    result.textContent = "…";
    try {
      const response = await fetch(api + path, {
        method,
        headers: { "content-type": "application/json" },
        body,
      });
      const text = await response.text();
      result.dataset.status = String(response.status);
      result.textContent = `${response.status} ${response.statusText}${text ? "\n" + text : ""}`;
    } catch (error) {
      result.dataset.status = "0";
      result.textContent = `the request did not get an answer: ${error}`;
    }
  };
  section.querySelector("form#raise-event").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const name = form.elements.event.value.trim();
    const data = form.elements.data.value.trim() || "null";
    if (!confirm(`Raise event '${name}' on this instance with data ${data}?`)) return;
    call("POST", `/raiseEvent/${encodeURIComponent(name)}`, data);
  });
  for (const button of section.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      if (!confirm(`${button.textContent} this instance?`)) return;
      const reason = "?reason=" + encodeURIComponent("from the console");
      if (action === "purge") call("DELETE", "", undefined);
      else if (action === "restart") call("POST", "/restart", undefined);
      else call("POST", `/${action}${reason}`, undefined);
    });
  }
}

// The schedules' buttons: each asks first, then calls the API, shows its answer, and reloads
// the page once the API has done it, so that the row shows the schedule as it is now.
function scheduleActions() {
  const section = document.querySelector("section.schedule-actions");
  if (!section) return;
  const result = section.querySelector("#action-result");
  for (const button of document.querySelectorAll("button[data-schedule-action]")) {
    button.addEventListener("click", async () => {
      const name = button.closest("tr").dataset.schedule;
      const action = button.dataset.scheduleAction;
      if (!confirm(`${button.textContent} the schedule '${name}'?`)) return;
      result.textContent = "…";
      try {
        const response = await fetch(`${section.dataset.api}/${encodeURIComponent(name)}/${action}`, { method: "POST" });
        const text = await response.text();
        result.dataset.status = String(response.status);
        result.textContent = `${response.status} ${response.statusText}${text ? "\n" + text : ""}`;
        if (response.ok) setTimeout(() => location.reload(), 500);
      } catch (error) {
        result.dataset.status = "0";
        result.textContent = `the request did not get an answer: ${error}`;
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refreshList();
  zoomTimeline();
  actions();
  scheduleActions();
});
