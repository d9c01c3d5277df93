// The biopsy view: the stereo set's target from the result envelope's "biopsy" record.
"use strict";
const key = location.pathname.split("/").pop();
(async () => {
  await startSession();
  const exam = await api(`/api/exam/${key}`), box = document.getElementById("biopsy");
  const b = exam.biopsy;
  if (!b) { box.textContent = "this exam has no biopsy result (the service has not routed it to the biopsy stage)"; return; }
  const t = b.target;
  box.replaceChildren(el("table", { id: "target" },
    ...[["target X", `${fmt(t.x_mm)} mm (1-sigma ${fmt(t.sigma_x_mm)})`], ["target Y", `${fmt(t.y_mm)} mm (1-sigma ${fmt(t.sigma_y_mm)})`],
      ["target Z", `${fmt(t.z_mm)} mm (1-sigma ${fmt(t.sigma_z_mm)})`], ["matched calcifications", t.n_matches],
      ["unit", `${b.unit}, +/-${b.theta_deg} deg`], ["chosen by", b.choice], ["warnings", b.warnings.join(", ") || "none"]]
      .map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })))));
  document.body.dataset.ready = "1";
})();
