// The exam page: four views hung RCC | LCC over RMLO | LMLO (chest walls in the middle), marks, heat layers.
"use strict";
const key = location.pathname.split("/").pop();
const cells = {};
const toggles = { marks: true, saliency: false, asymmetry: false };

function location_of(exam, view, cluster) {
  const breast = exam.breasts.find((b) => b.laterality === view.name[0]);
  const field = view.name.endsWith("CC") ? "cc_cluster" : "mlo_cluster";
  return (breast ? breast.locations : []).find((l) => l[field] === cluster.id) || {};
}

function marks(view) {
  const g = view.geometry, ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", g.width); svg.setAttribute("height", g.height);
  svg.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);
  svg.classList.add("marks");
  for (const c of view.clusters) {
    const x = g.mirrored ? g.width - c.centroid_x * g.scale : c.centroid_x * g.scale, y = c.centroid_y * g.scale;
    const ring = document.createElementNS(ns, "circle"), dot = document.createElementNS(ns, "circle");
    const label = document.createElementNS(ns, "text");
    ring.classList.add("mark-ring"); dot.classList.add("mark-dot"); label.classList.add("mark-label");
    for (const node of [ring, dot]) { node.setAttribute("cx", x); node.setAttribute("cy", y); }
    ring.dataset.r = Math.max(c.extent_mm / view.spacing_mm * g.scale / 2, 6);
    label.setAttribute("x", x); label.setAttribute("y", y); label.textContent = String(c.id);
    dot.dataset.cluster = c.id; dot.dataset.view = view.name;
    svg.append(ring, dot, label);
  }
  return svg;
}

function asymmetryOutline(view) {
  // the risk stage's top window on this view (normalized px), drawn with the asymmetry heat layer
  const g = view.geometry, ns = "http://www.w3.org/2000/svg", [x0, y0, x1, y1] = view.asymmetry_window;
  const svg = document.createElementNS(ns, "svg"), rect = document.createElementNS(ns, "rect");
  svg.setAttribute("width", g.width); svg.setAttribute("height", g.height);
  svg.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);
  svg.classList.add("asymmetry-outline", "off");
  rect.classList.add("asymmetry-window");
  rect.setAttribute("x", g.mirrored ? g.width - x1 * g.scale : x0 * g.scale);
  rect.setAttribute("y", y0 * g.scale);
  rect.setAttribute("width", (x1 - x0) * g.scale); rect.setAttribute("height", (y1 - y0) * g.scale);
  svg.append(rect);
  return svg;
}

function layout(cell) {
  const s = cell.zoom.s, t = cell.zoom;
  cell.stage.style.transform = `translate(${t.x}px, ${t.y}px) scale(${s})`;
  for (const ring of cell.stage.querySelectorAll(".mark-ring")) {
    ring.setAttribute("r", Math.max(Number(ring.dataset.r), 14 / s)); ring.setAttribute("stroke-width", 2 / s);
  }
  for (const dot of cell.stage.querySelectorAll(".mark-dot")) dot.setAttribute("r", 5 / s);
  for (const rect of cell.stage.querySelectorAll(".asymmetry-window")) rect.setAttribute("stroke-width", 3 / s);
  for (const label of cell.stage.querySelectorAll(".mark-label")) {
    label.setAttribute("font-size", 16 / s); label.setAttribute("dx", 16 / s); label.setAttribute("dy", -16 / s);
  }
}

function fit(cell) {
  const box = cell.node.getBoundingClientRect(), g = cell.view.geometry;
  const s = Math.min(box.width / g.width, box.height / g.height);
  // chest walls meet in the middle: right views hug the cell's right edge, left views its left edge
  cell.zoom = { s, x: cell.node.classList.contains("right") ? box.width - g.width * s : 0, y: (box.height - g.height * s) / 2 };
  layout(cell);
}

function interactive(cell) {
  const node = cell.node;
  node.addEventListener("wheel", (event) => {
    event.preventDefault();
    const box = node.getBoundingClientRect(), z = cell.zoom;
    const factor = event.deltaY < 0 ? 1.25 : 0.8, px = event.clientX - box.left, py = event.clientY - box.top;
    z.x = px - (px - z.x) * factor; z.y = py - (py - z.y) * factor; z.s *= factor;
    layout(cell);
  }, { passive: false });
  let drag = null;
  node.addEventListener("mousedown", (event) => { drag = { x: event.clientX, y: event.clientY }; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (event) => {
    if (!drag) return;
    cell.zoom.x += event.clientX - drag.x; cell.zoom.y += event.clientY - drag.y;
    drag = { x: event.clientX, y: event.clientY };
    layout(cell);
  });
  node.addEventListener("dblclick", () => fit(cell));
}

function setToggle(name, on) {
  toggles[name] = on;
  document.getElementById(`toggle-${name}`).setAttribute("aria-pressed", String(on));
  for (const cell of Object.values(cells)) {
    if (name === "marks") { cell.svg.classList.toggle("off", !on); continue; }
    const img = cell.layers[name];
    if (!img) continue;
    if (on && !img.getAttribute("src")) img.src = `/api/exam/${key}/layer/${cell.view.name}/${name}.png`;
    img.classList.toggle("on", on);
    if (name === "asymmetry" && cell.outline) cell.outline.classList.toggle("off", !on);
  }
}

function table(exam) {
  const rows = [];
  for (const view of exam.views) for (const c of view.clusters) {
    const m = c.morphology || {}, where = location_of(exam, view, c);
    rows.push(el("tr", { "data-view": view.name, "data-cluster": c.id },
      el("td", { text: view.name }), el("td", { text: String(c.id) }), el("td", { text: String(c.count) }),
      el("td", { text: c.distribution }), el("td", { text: (m.morphology || "-").replaceAll("_", " ") }),
      el("td", { text: m.birads || "-" }), el("td", { text: fmt(m.likelihood) }),
      el("td", { text: m.uncertainty === undefined ? "-" : fmt(m.uncertainty) + (m.uncertain ? " (uncertain)" : "") }),
      el("td", { text: fmt(c.suspicion) }), el("td", { text: fmt(c.extent_mm, 1) }),
      el("td", { text: where.clock_hour ? `${where.clock_hour} o'clock` : "-" }), el("td", { text: where.quadrant || "-" }),
      el("td", { text: where.depth || c.depth || "-" }), el("td", { text: fmt(c.distance_to_nipple_mm, 1) })));
  }
  document.querySelector("#clusters tbody").replaceChildren(...rows);
  const notes = [];
  if (exam.missing_views.length) notes.push(`missing views: ${exam.missing_views.join(", ")}`);
  for (const v of exam.views_not_analyzed) notes.push(`not analyzed: ${v.view || "?"} (${v.reason})`);
  if (exam.not_analyzed) notes.push(`exam not analyzed: ${exam.not_analyzed.reason}`);
  if (exam.triage) notes.push(exam.triage.rule);
  document.getElementById("exam-notes").textContent = notes.join("; ");
}

function risk(exam) {
  const box = document.getElementById("risk"), r = exam.risk;
  if (!r) { box.replaceChildren(el("p", { class: "note", text: "risk not assessed (no risk model configured)" })); return; }
  if (r.status !== "assessed") { box.replaceChildren(el("p", { class: "note", text: r.message })); return; }
  const rows = r.years.map((y, i) => el("tr", {}, el("td", { text: `${y}-year risk` }), el("td", { text: `${fmt(r.risk[i] * 100, 1)} %` })));
  rows.push(el("tr", {}, el("td", { text: "density" }), el("td", { text: r.density ? r.density.category : "-" })));
  rows.push(el("tr", {}, el("td", { text: "asymmetry" }), el("td", { text: fmt(r.asymmetry_score) })));
  box.replaceChildren(el("table", { id: "risk-table" }, ...rows),
    el("p", { class: "note", text: "model trained on a SIMULATED cohort (docs/risk.md): not a clinical risk estimate" }));
}

(async () => {
  await startSession();
  const exam = await api(`/api/exam/${key}`);
  const p = exam.patient;
  document.getElementById("patient").replaceChildren(el("b", { text: p.name || "(no name)" }),
    ` ID ${p.id || "-"}, study ${p.study_date ? p.study_date.replace(/(\d{4})(\d\d)(\d\d)/, "$1-$2-$3") : "-"}`);
  const flag = document.getElementById("flag");
  if (exam.triage) {
    const sides = exam.breasts.filter((b) => b.flagged).map((b) => b.laterality).join(" ");
    flag.textContent = exam.triage.flagged ? `FLAG ${sides} (score ${fmt(exam.triage.score)})` : `no flag (score ${fmt(exam.triage.score)})`;
    flag.classList.toggle("on", exam.triage.flagged);
  } else flag.textContent = exam.status ? exam.status.status : "no result";
  for (const node of document.querySelectorAll(".cell")) {
    const view = exam.views.find((v) => v.name === node.dataset.view);
    if (!view) { node.append(el("div", { class: "missing", text: "no view" })); continue; }
    const g = view.geometry, stage = el("div", { class: "stage" });
    stage.style.width = `${g.width}px`; stage.style.height = `${g.height}px`;
    const base = el("img", { class: "base", width: g.width, height: g.height, alt: view.name, src: `/api/exam/${key}/view/${view.name}.png` });
    const layers = {};
    stage.append(base);
    for (const name of ["saliency", "asymmetry"]) {
      if (!view[name]) continue;
      layers[name] = el("img", { class: `layer ${name}`, width: g.width, height: g.height, alt: "" });
      stage.append(layers[name]);
    }
    const outline = view.asymmetry && view.asymmetry_window ? asymmetryOutline(view) : null;
    if (outline) stage.append(outline);
    const svg = marks(view);
    stage.append(svg);
    node.append(stage);
    const cell = cells[view.name] = { node, stage, svg, view, layers, base, outline };
    fit(cell); interactive(cell);
  }
  for (const name of ["saliency", "asymmetry"]) {
    const button = document.getElementById(`toggle-${name}`);
    button.disabled = !exam.views.some((v) => v[name]);
    button.addEventListener("click", () => setToggle(name, !toggles[name]));
  }
  document.getElementById("toggle-marks").addEventListener("click", () => setToggle("marks", !toggles.marks));
  table(exam); risk(exam);
  document.querySelector("#models tbody").replaceChildren(...exam.models.map((m) => el("tr", {},
    el("td", { text: m.name }), el("td", { text: m.version }), el("td", { text: `${m.precision} ${m.backend} ${m.device}` }))));
  document.body.dataset.ready = "1";
  performance.mark("exam-ready");
  await Promise.all(Object.values(cells).map((c) => c.base.decode().catch(() => null)));
  performance.mark("exam-views");
})();
