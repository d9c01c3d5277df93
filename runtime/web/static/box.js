// The box view: health (as `mammoedge status`), queue, models, devices, PACS send queue, update state.
"use strict";
function rows(id, pairs) {
  document.querySelector(`#${id} tbody`).replaceChildren(...(pairs.length ? pairs : [["-", "none"]]).map(([k, v]) =>
    el("tr", {}, el("td", { text: k }), el("td", { text: String(v) }))));
}
function when(epoch) { return epoch ? new Date(epoch * 1000).toLocaleString() : "never"; }

async function refresh() {
  const box = await api("/api/box");
  const h = box.health || { queue_depth: "unreadable (service stopped?)", oldest_waiting_s: null, last_exam_at: null,
    instances: "-", errors_by_reason: {}, exams_by_state: {}, forward: {}, forward_reasons: {}, versions: {}, at: Date.now() / 1000 };
  rows("health", [["queue depth", h.queue_depth], ["oldest waiting", h.oldest_waiting_s === null ? "-" : ago(h.oldest_waiting_s)],
    ["last exam", when(h.last_exam_at)], ["instances", h.instances],
    ["errors", Object.entries(h.errors_by_reason).map(([k, v]) => `${k} ${v}`).join(", ") || "none"],
    ["page", box.web.tls ? "HTTPS" : "HTTP (loopback only)"], ["accounts", box.web.accounts]]);
  rows("queue", Object.entries(h.exams_by_state));
  rows("forward", Object.entries(h.forward).map(([d, states]) => [d,
    (Object.entries(states).map(([k, v]) => `${k} ${v}`).join(", ") || "nothing queued") +
    (h.forward_reasons[d] ? ` (last problem: ${h.forward_reasons[d]})` : "")]));
  rows("models", Object.entries(box.models));
  rows("devices", box.devices.map((d) => [d, "present"]));
  rows("update", box.update ? Object.entries(box.update).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]) : [["update root", "not installed"]]);
  rows("versions", Object.entries(h.versions));
  document.getElementById("when").textContent = `as of ${new Date(h.at * 1000).toLocaleTimeString()}; refreshed every 5 s`;
  document.body.dataset.ready = "1";
}

(async () => { await startSession(); await refresh(); setInterval(refresh, 5000); })();
