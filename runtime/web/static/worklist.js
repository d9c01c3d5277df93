// The live worklist: server-sent events from /api/events; a new flag is shown and beeped.
"use strict";
let exams = [], onlyFlagged = false, seenFlags = null, clockSkew = 0, audio = null;

function beep() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.2;
    osc.connect(gain).connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.35);
  } catch (e) { /* no audio device: the banner still shows */ }
}

function statusText(exam) {
  if (exam.status === "receiving") return `receiving ${exam.views}/4`;
  if (exam.status === "failed") return `failed: ${exam.reason || "?"}`;
  if (!exam.analyzed && exam.reason) return `not analyzed: ${exam.reason}`;
  return exam.status;
}

function render() {
  const body = document.querySelector("#worklist tbody");
  const now = Date.now() / 1000 - clockSkew;
  const rows = exams.filter((e) => !onlyFlagged || e.flagged).map((e) => {
    const flag = e.flagged === null ? "-" : (e.flagged ? `FLAG ${e.breasts_flagged.join(" ")}` : "no flag");
    const received = new Date(e.first_received_at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const tr = el("tr", { "data-key": e.study_key, "data-status": e.status, class: e.flagged ? "flagged" : "" },
      el("td", { text: received }), el("td", { class: "key", text: e.study_key.slice(0, 8) }),
      el("td", { class: `status-${e.status}`, text: statusText(e) }), el("td", { text: `${e.views}/4` }),
      el("td", { class: "flag", text: flag }), el("td", { text: fmt(e.breasts.R) }), el("td", { text: fmt(e.breasts.L) }),
      el("td", { text: e.flagged === null ? "-" : String(e.clusters) }),
      el("td", { class: "since", "data-last": e.last_received_at, text: ago(now - e.last_received_at) }),
      el("td", {}, el("a", { href: `/${e.kind === "biopsy" ? "biopsy" : "exam"}/${e.study_key}`, text: "open" })));
    return tr;
  });
  body.replaceChildren(...rows);
  if (rows.length && !performance.getEntriesByName("worklist-rows").length) performance.mark("worklist-rows");
}

function update(data) {
  clockSkew = Date.now() / 1000 - data.now;
  exams = data.exams;
  const flagged = new Set(exams.filter((e) => e.flagged).map((e) => e.study_key));
  if (seenFlags !== null) {
    const fresh = [...flagged].filter((k) => !seenFlags.has(k));
    if (fresh.length) {
      const alert = document.getElementById("alert");
      alert.textContent = `New flag: exam ${fresh.map((k) => k.slice(0, 8)).join(", ")}`;
      alert.classList.add("on");
      alert.dataset.keys = fresh.join(" ");
      beep();
    }
  }
  seenFlags = flagged;
  render();
}

function setFilter(flaggedOnly) {
  onlyFlagged = flaggedOnly;
  document.getElementById("filter-all").setAttribute("aria-pressed", String(!flaggedOnly));
  document.getElementById("filter-flagged").setAttribute("aria-pressed", String(flaggedOnly));
  render();
}

(async () => {
  await startSession();
  document.getElementById("filter-all").addEventListener("click", () => setFilter(false));
  document.getElementById("filter-flagged").addEventListener("click", () => setFilter(true));
  document.getElementById("sound").addEventListener("click", () => { audio = audio || new AudioContext(); audio.resume(); });
  document.getElementById("alert").addEventListener("click", (e) => e.currentTarget.classList.remove("on"));
  const live = document.getElementById("live");
  const source = new EventSource("/api/events");
  source.addEventListener("worklist", (event) => { update(JSON.parse(event.data)); live.textContent = "live"; });
  source.onerror = () => { live.textContent = "reconnecting..."; };
  setInterval(() => {
    const now = Date.now() / 1000 - clockSkew;
    for (const td of document.querySelectorAll("td.since")) td.textContent = ago(now - Number(td.dataset.last));
  }, 1000);
})();
