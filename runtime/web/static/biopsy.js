// The biopsy view: the stereo images with the matched calcifications and the target; a radiologist picks a
// cluster on the scout (a click) and the box recomputes the target for the cluster nearest that point.
"use strict";
const key = location.pathname.split("/").pop();
const ns = "http://www.w3.org/2000/svg";
let doc = null;

function draw(biopsy) {
  const field = { scout: "scout_px", plus: "plus_px", minus: "minus_px" };
  for (const view of doc.views) {
    const svg = document.getElementById(`marks-${view.role}`);
    svg.replaceChildren();
    if (!biopsy) continue;
    const s = view.scale;
    biopsy.matches.forEach((m, i) => {
      const p = m[field[view.role]];
      if (!p) return;
      const c = document.createElementNS(ns, "circle");
      c.setAttribute("cx", p[0] * s); c.setAttribute("cy", p[1] * s); c.setAttribute("r", 6);
      c.setAttribute("class", m.ambiguous ? "match ambiguous" : "match");
      const t = document.createElementNS(ns, "text");
      t.setAttribute("x", p[0] * s + 7); t.setAttribute("y", p[1] * s - 7); t.setAttribute("class", "match-label");
      t.textContent = String(i + 1);
      svg.append(c, t);
    });
    const p = biopsy.target[field[view.role]];
    if (p) {
      const x = p[0] * s, y = p[1] * s;
      for (const [x1, y1, x2, y2] of [[x - 14, y, x + 14, y], [x, y - 14, x, y + 14]]) {
        const l = document.createElementNS(ns, "line");
        Object.entries({ x1, y1, x2, y2 }).forEach(([k, v]) => l.setAttribute(k, v));
        l.setAttribute("class", "target"); svg.append(l);
      }
    }
  }
  const t = biopsy ? biopsy.target : null;
  document.querySelector("#target tbody").replaceChildren(...(!t ? [el("tr", {}, el("td", { text: "no biopsy result for this exam" }))] :
    [["X", `${fmt(t.x_mm)} mm (1-sigma ${fmt(t.sigma_x_mm)})`], ["Y", `${fmt(t.y_mm)} mm (1-sigma ${fmt(t.sigma_y_mm)})`],
     ["Z", `${fmt(t.z_mm)} mm (1-sigma ${fmt(t.sigma_z_mm)})`], ["matched", t.n_matches],
     ["unit", `${biopsy.unit}, +/-${biopsy.theta_deg} deg`], ["chosen by", biopsy.choice],
     ["warnings", biopsy.warnings.join(", ") || "none"]].map(([k, v]) =>
      el("tr", { "data-field": k }, el("td", { text: k }), el("td", { text: String(v) })))));
  document.getElementById("matches").textContent = biopsy ?
    `${biopsy.matches.length} matched in both stereo views (green; orange: ambiguous); ${biopsy.candidates} candidate group(s); target: magenta cross` : "";
}

(async () => {
  await startSession();
  doc = await api(`/api/biopsy/${key}`);
  const p = doc.patient;
  document.getElementById("patient").replaceChildren(el("b", { text: p.name || "(no name)" }), ` ID ${p.id || "-"}`);
  const reference = doc.views.some((v) => v.role === "scout") ? "scout" : "plus";
  const mayPick = me.role === "radiologist" || me.role === "admin";
  document.getElementById("hint").textContent = mayPick ? `click a cluster on the ${reference} image to target it` : "";
  const box = document.getElementById("stereo");
  for (const view of doc.views) {
    const stage = el("div", { class: "stereo-view", id: `stereo-${view.role}` }, el("span", { class: "label", text: view.role }));
    const img = el("img", { src: `/api/biopsy/${key}/view/${view.role}.png`, width: view.width, height: view.height, alt: view.role });
    const svg = document.createElementNS(ns, "svg");
    svg.id = `marks-${view.role}`; svg.setAttribute("width", view.width); svg.setAttribute("height", view.height);
    stage.append(img, svg); box.append(stage);
    if (view.role === reference && mayPick) {
      stage.classList.add("pick");
      stage.addEventListener("click", async (event) => {
        const r = img.getBoundingClientRect();
        const x = (event.clientX - r.left) / r.width * view.width / view.scale, y = (event.clientY - r.top) / r.height * view.height / view.scale;
        document.getElementById("origin").textContent = "recomputing...";
        try {
          const answer = await api(`/api/biopsy/${key}/target`, { method: "POST", body: { x, y } });
          draw(answer.biopsy);
          document.getElementById("origin").textContent = `recomputed for the cluster nearest (${x.toFixed(0)}, ${y.toFixed(0)}) on the ${reference} image; shown here, not stored`;
        } catch (e) { document.getElementById("origin").textContent = `not recomputed: ${e.message}`; }
        document.body.dataset.retargeted = String(Number(document.body.dataset.retargeted || 0) + 1);
      });
    }
  }
  draw(doc.biopsy);
  document.getElementById("origin").textContent = doc.biopsy ? "as the service computed it" : "";
  document.body.dataset.ready = "1";
})();
