// Review page: ethogram of a run (drawn here in SVG), window playback, corrections saved at once.
"use strict";

const LEFT = 84;        // px for the row names
const RIGHT = 12;
const ROWS = { pred: [8, 20], human: [32, 20], corr: [56, 10], prob: [74, 90], axis: 168 };
const HEIGHT = 190;
const MAX_FRAMES = 60;  // frames played per window at most (longer windows are sub-sampled)

const st = {
  runs: [],
  behaviors: [],   // the project's behaviours (answers)
  data: null,      // /api/review/data
  sel: null,       // selected window index
  fromQueue: false,
  saving: false,
  suggestions: [],
};
let player = null;

function topProb(i) {
  const p = st.data.windows.probability[i];
  let best = null;
  for (const v of p) if (v !== null && (best === null || v > best)) best = v;
  return best;
}

function correctedSet() {
  return new Set(st.data.corrections.map((c) => `${c.start_frame}-${c.end_frame}`));
}

function isCorrected(i, set) {
  const w = st.data.windows;
  return (set || correctedSet()).has(`${w.start[i]}-${w.end[i]}`);
}

// Window indices, least certain first (windows without an answer count as least certain).
function uncertainOrder() {
  const n = st.data.windows.start.length;
  const idx = [...Array(n).keys()];
  const cal = st.data.windows.certainty;  // calibrated top probabilities, when the run has a calibrated run
  const key = (i) => { const t = cal ? cal[i] : topProb(i); return t === null ? -1 : t; };
  idx.sort((a, b) => key(a) - key(b) || a - b);
  return idx;
}

function humanLabel(i) {
  const w = st.data.windows;
  const s = w.start[i], e = w.end[i];
  const counts = {};
  for (const b of st.data.human) {
    const o = Math.min(e, b.end) - Math.max(s, b.start);
    if (o > 0) counts[b.behavior] = (counts[b.behavior] || 0) + o;
  }
  const keys = Object.keys(counts);
  if (!keys.length) return "";
  const total = keys.reduce((a, k) => a + counts[k], 0);
  const best = keys.sort((a, b) => counts[b] - counts[a])[0];
  return total < e - s || keys.length > 1 ? `${best} (partly)` : best;
}

// ------------------------------------------------------------------------------------------ ethogram
function plotWidth() {
  const zoom = parseFloat(document.getElementById("zoom").value);
  const d = st.data;
  if (zoom > 0) return Math.max(200, Math.round((d.n_frames / d.fps) * zoom));
  return Math.max(400, document.getElementById("ethogram-wrap").clientWidth - LEFT - RIGHT - 2);
}

function drawEthogram() {
  const d = st.data;
  const svg = document.getElementById("ethogram");
  svg.replaceChildren();
  const W = plotWidth();
  svg.setAttribute("width", LEFT + W + RIGHT);
  svg.setAttribute("height", HEIGHT);
  const x = (f) => LEFT + (f / d.n_frames) * W;
  const names = d.vector_behaviors;
  const col = (b) => MF.color(st.behaviors, b);
  const label = (text, y) => {
    const t = MF.svg("text", { x: 4, y, class: "rowlabel" });
    t.textContent = text;
    svg.append(t);
  };
  label("predicted", ROWS.pred[0] + 14);
  label("human", ROWS.human[0] + 14);
  label("corrected", ROWS.corr[0] + 9);
  label("probability", ROWS.prob[0] + 12);
  // background of the rows
  for (const [y, h] of [ROWS.pred, ROWS.human, ROWS.corr, ROWS.prob]) {
    svg.append(MF.svg("rect", { x: LEFT, y, width: W, height: h, fill: "#f3f4f6" }));
  }
  const w = d.windows;
  for (let i = 0; i < w.start.length; i++) {
    if (!w.label[i]) continue;
    const t = topProb(i);
    const r = MF.svg("rect", {
      x: x(w.start[i]), y: ROWS.pred[0], width: Math.max(0.5, x(w.end[i]) - x(w.start[i])), height: ROWS.pred[1],
      fill: col(w.label[i]), "fill-opacity": t === null ? 1 : (0.35 + 0.65 * t).toFixed(3),
    });
    const title = MF.svg("title");
    title.textContent = `${MF.time(w.start[i] / d.fps)} ${w.label[i]} (${t === null ? "?" : t.toFixed(2)})`;
    r.append(title);
    svg.append(r);
  }
  for (const b of d.human) {
    svg.append(MF.svg("rect", {
      x: x(b.start), y: ROWS.human[0], width: Math.max(0.5, x(b.end) - x(b.start)), height: ROWS.human[1],
      fill: col(b.behavior), class: "human-bout",
    }));
  }
  for (const c of d.corrections) {
    svg.append(MF.svg("rect", {
      x: x(c.start_frame), y: ROWS.corr[0], width: Math.max(1, x(c.end_frame) - x(c.start_frame)),
      height: ROWS.corr[1], fill: col(c.behavior), class: "correction",
    }));
  }
  // probability lines, one per behaviour, through the window centres (gaps where no answer)
  const [py, ph] = ROWS.prob;
  names.forEach((b, j) => {
    let pts = [];
    const flush = () => {
      if (pts.length) svg.append(MF.svg("polyline", {
        points: pts.join(" "), fill: "none", stroke: col(b), "stroke-width": 1.3, "stroke-opacity": 0.9,
      }));
      pts = [];
    };
    for (let i = 0; i < w.start.length; i++) {
      const v = w.probability[i][j];
      if (v === null) { flush(); continue; }
      pts.push(`${x((w.start[i] + w.end[i]) / 2).toFixed(1)},${(py + ph - v * ph).toFixed(1)}`);
    }
    flush();
  });
  // time axis
  const duration = d.n_frames / d.fps;
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((s) => (s / duration) * W >= 70) || 3600;
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const xx = LEFT + (t / duration) * W;
    svg.append(MF.svg("line", { x1: xx, x2: xx, y1: ROWS.pred[0], y2: ROWS.axis - 6, stroke: "#e5e7eb" }));
    const tt = MF.svg("text", { x: xx, y: ROWS.axis + 8, "text-anchor": "middle" });
    tt.textContent = step < 60 ? `${+t.toFixed(1)} s` : `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}`;
    svg.append(tt);
  }
  // selection
  if (st.sel !== null) {
    svg.append(MF.svg("rect", {
      x: x(w.start[st.sel]) - 1, y: 2, width: Math.max(2, x(w.end[st.sel]) - x(w.start[st.sel]) + 2),
      height: ROWS.axis - 4, fill: "none", stroke: "#111827", "stroke-width": 2, id: "selection",
    }));
  }
  svg.onclick = (ev) => {
    const rect = svg.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    if (px < LEFT || px > LEFT + W) return;
    const frame = Math.floor(((px - LEFT) / W) * d.n_frames);
    const i = windowAt(frame);
    if (i !== null) { st.fromQueue = false; select(i); }
  };
}

function windowAt(frame) {
  const w = st.data.windows;
  let best = null;
  for (let i = 0; i < w.start.length; i++) if (w.start[i] <= frame && frame < w.end[i]) best = i;
  return best;
}

function drawLegend() {
  const box = document.getElementById("legend");
  box.replaceChildren();
  for (const b of st.behaviors) {
    const i = MF.el("i");
    i.style.background = MF.color(st.behaviors, b);
    box.append(MF.el("span", {}, i, b));
  }
  box.append(MF.el("span", { class: "muted", text: "paler = less certain" }));
}

// ------------------------------------------------------------------------------------- window panel
function select(i) {
  const w = st.data.windows;
  if (!w.start.length) return;
  st.sel = Math.max(0, Math.min(w.start.length - 1, i));
  const s = w.start[st.sel], e = w.end[st.sel], fps = st.data.fps;
  const step = Math.max(1, Math.ceil((e - s) / MAX_FRAMES));
  const frames = [];
  for (let f = s; f < e; f += step) frames.push(f);
  const v = encodeURIComponent(st.data.video);
  player.load(frames.map((f) => `/api/review/frame?video=${v}&frame=${f}`),
    frames.map((f) => `frame ${f}, ${MF.time(f / fps)}`), (1000 * step) / fps);
  const t = topProb(st.sel);
  document.getElementById("window-title").textContent =
    `Window ${st.sel + 1} of ${w.start.length}: ${MF.time(s / fps)}–${MF.time(e / fps)} (frames ${s}–${e - 1})`;
  const probs = document.getElementById("probs");
  probs.replaceChildren();
  const human = humanLabel(st.sel);
  probs.append(MF.el("tr", {}, MF.el("td", { text: "predicted" }),
    MF.el("td", { text: w.label[st.sel] ? `${w.label[st.sel]} (${t.toFixed(3)})` : "no answer" }), MF.el("td")));
  probs.append(MF.el("tr", {}, MF.el("td", { text: "human label" }),
    MF.el("td", { text: human || "none", id: "human-label" }), MF.el("td")));
  st.data.vector_behaviors.forEach((b, j) => {
    const p = w.probability[st.sel][j];
    const bar = MF.el("div", { class: "pbar" });
    bar.style.width = `${p === null ? 0 : Math.round(p * 100)}%`;
    bar.style.background = MF.color(st.behaviors, b);
    probs.append(MF.el("tr", {}, MF.el("td", { text: b }), MF.el("td", { text: p === null ? "–" : p.toFixed(3) }),
      MF.el("td", {}, bar)));
  });
  for (const btn of document.querySelectorAll("button.answer")) {
    btn.classList.toggle("chosen", human === btn.dataset.answer);
  }
  const status = document.getElementById("status");
  status.classList.remove("saved");
  status.textContent = isCorrected(st.sel) ? "Corrected before; pressing a key replaces that answer." : "";
  drawEthogram();
  renderQueue();
}

function renderAnswers() {
  const box = document.getElementById("answers");
  box.replaceChildren();
  st.behaviors.forEach((b, i) => {
    const sw = MF.el("span", { class: "swatch" });
    sw.style.background = MF.color(st.behaviors, b);
    box.append(MF.el("button", { class: "answer", "data-answer": b, onclick: () => correct(b) },
      MF.el("span", { class: "key", text: i < 9 ? String(i + 1) : "" }), sw, MF.el("span", { class: "name", text: b })));
  });
  box.append(MF.el("div", { class: "sep" }));
  box.append(MF.el("button", { class: "answer", id: "confirm", onclick: confirmPrediction },
    MF.el("span", { class: "key", text: "⏎" }), MF.el("span", { class: "name", text: "prediction is right" })));
}

function renderQueue() {
  const box = document.getElementById("uncertain");
  box.replaceChildren();
  const order = uncertainOrder();
  const done = correctedSet();
  const w = st.data.windows;
  const open = order.filter((i) => !isCorrected(i, done));
  document.getElementById("uncertain-summary").textContent =
    `${w.start.length - open.length} of ${w.start.length} windows reviewed` +
    (st.data.certainty_from ? ` (ordered by the probabilities of ${st.data.certainty_from})` : "");
  for (const i of order.slice(0, 40)) {
    const t = w.certainty ? w.certainty[i] : topProb(i);
    const sw = MF.el("span", { class: "badge", text: w.label[i] || "?" });
    sw.style.background = MF.color(st.behaviors, w.label[i]);
    const btn = MF.el("button", { onclick: () => { st.fromQueue = true; select(i); }, "data-window": String(i) },
      MF.el("span", { class: "t", text: MF.time(w.start[i] / st.data.fps) }), sw,
      MF.el("span", { class: "p", text: t === null ? "no answer" : t.toFixed(3) }));
    if (done.has(`${w.start[i]}-${w.end[i]}`)) btn.classList.add("done");
    if (i === st.sel) btn.classList.add("chosen");
    box.append(btn);
  }
}

function nextUncertain() {
  const done = correctedSet();
  const next = uncertainOrder().find((i) => i !== st.sel && !isCorrected(i, done));
  if (next !== undefined) { st.fromQueue = true; select(next); }
  return next !== undefined;
}

async function correct(behavior) {
  if (st.sel === null || st.saving) return;
  const w = st.data.windows;
  const i = st.sel;
  st.saving = true;
  const status = document.getElementById("status");
  status.classList.remove("saved");
  status.textContent = "saving…";
  try {
    const res = await MF.postJSON("/api/review/correct", {
      run: st.data.run, video: st.data.video, start_frame: w.start[i], end_frame: w.end[i], behavior,
    });
    st.data.human = res.human;
    st.data.corrections = res.corrections;
    MF.clearError();
    const msg = `Saved ${behavior} for frames ${w.start[i]}–${w.end[i] - 1}.`;
    if (!(st.fromQueue && nextUncertain())) select(i);
    status.textContent = msg;
    status.classList.add("saved");
  } catch (err) {
    status.textContent = "";
    MF.showError(`Not saved: ${err.message}`);
  } finally {
    st.saving = false;
  }
}

function confirmPrediction() {
  if (st.sel === null) return;
  const label = st.data.windows.label[st.sel];
  if (label && st.behaviors.includes(label)) correct(label);
  else MF.showError("This window has no predicted behaviour of the project to confirm.");
}

// ------------------------------------------------------------------------------- seconds to score next
async function loadSuggestions() {
  const box = document.getElementById("suggest");
  const summary = document.getElementById("suggest-summary");
  summary.textContent = "ranking…";
  box.replaceChildren();
  let res;
  try {
    res = await MF.getJSON("/api/review/suggest?n=20");
  } catch (err) {
    summary.textContent = `Cannot rank seconds: ${err.message}`;
    return;
  }
  st.suggestions = res.rows;
  if (res.error) { summary.textContent = res.error; return; }
  const parts = [`${res.scored_seconds} s scored; ${res.committee} of ${res.grid} threshold settings fit them`];
  if (res.left_out.length) parts.push(`no stored measurements of ${res.left_out.join(", ")} (classify with the motion backend)`);
  summary.textContent = parts.join(". ");
  res.rows.forEach((r, i) => {
    const sw = MF.el("span", { class: "badge", text: r.predicted });
    sw.style.background = MF.color(st.behaviors, r.predicted);
    const btn = MF.el("button", { onclick: () => openSecond(r), "data-suggest": String(i), title: r.reason },
      MF.el("span", { class: "t", text: MF.time(r.start_s) }), MF.el("span", { text: r.video }), sw,
      MF.el("span", { class: "p", text: r.disagreement === null ? "" : r.disagreement.toFixed(2) }));
    box.append(btn);
  });
}

async function openSecond(r) {
  const runSel = document.getElementById("run");
  const videoSel = document.getElementById("video");
  if (st.data.video !== r.video) {
    const run = st.runs.find((x) => x.name === runSel.value);
    if (!run || !run.videos.includes(r.video)) {
      MF.showError(`Run ${runSel.value} has no predictions of ${r.video}; choose a run that has.`);
      return;
    }
    videoSel.value = r.video;
    await loadVideo(runSel.value, r.video).catch((e) => MF.showError(e.message));
  }
  const i = windowAt(r.start_frame);
  if (i !== null) { st.fromQueue = false; select(i); }
}

// ------------------------------------------------------------------------------------------ loading
async function loadVideo(run, video) {
  const data = await MF.getJSON(`/api/review/data?run=${encodeURIComponent(run)}&video=${encodeURIComponent(video)}`);
  st.data = data;
  MF.setColors(data.colors);
  st.sel = null;
  const url = new URL(location.href);
  url.searchParams.set("run", run);
  url.searchParams.set("video", video);
  history.replaceState(null, "", url);
  document.getElementById("video-info").textContent =
    `subject ${data.subject}, session ${data.session || "–"}, ${data.n_frames} frames at ${+data.fps.toFixed(3)} fps, ` +
    `${data.windows.start.length} windows, backend ${data.backend}${data.model_id ? " " + data.model_id : ""}`;
  drawEthogram();
  const order = uncertainOrder().filter((i) => !isCorrected(i));
  st.fromQueue = true;
  select(order.length ? order[0] : 0);
}

function fillVideos(run) {
  const sel = document.getElementById("video");
  sel.replaceChildren();
  const r = st.runs.find((x) => x.name === run);
  for (const v of r ? r.videos : []) sel.append(MF.el("option", { value: v, text: v }));
}

function onKey(ev) {
  if (MF.inField(ev) || ev.ctrlKey || ev.metaKey || ev.altKey || !st.data) return;
  const n = parseInt(ev.key, 10);
  if (n >= 1 && n <= 9 && n <= st.behaviors.length) correct(st.behaviors[n - 1]);
  else if (ev.key === "Enter") confirmPrediction();
  else if (ev.key === "n") nextUncertain();
  else if (ev.key === "ArrowRight") { st.fromQueue = false; select((st.sel ?? -1) + 1); }
  else if (ev.key === "ArrowLeft") { st.fromQueue = false; select((st.sel ?? 1) - 1); }
  else if (ev.key === " ") document.getElementById("play").click();
  else return;
  ev.preventDefault();
}

async function init() {
  player = new MF.Player(document.getElementById("frame"), document.getElementById("frame-caption"));
  document.getElementById("prev").addEventListener("click", () => { st.fromQueue = false; select((st.sel ?? 1) - 1); });
  document.getElementById("next").addEventListener("click", () => { st.fromQueue = false; select((st.sel ?? -1) + 1); });
  player.bindControls(document.getElementById("play"), document.getElementById("speed"));
  document.getElementById("zoom").addEventListener("change", (ev) => { drawEthogram(); ev.target.blur(); });
  window.addEventListener("resize", () => { if (st.data) drawEthogram(); });
  document.addEventListener("keydown", onKey);
  MF.hideMissingPages();
  try {
    const info = await MF.getJSON("/api/review/runs");
    st.runs = info.runs;
    st.behaviors = info.behaviors;
    MF.setColors(info.colors);
    document.getElementById("project").textContent = `${info.project} — ${info.root}`;
    const params = new URLSearchParams(location.search);
    const run = params.get("run") || info.run;
    const runSel = document.getElementById("run");
    for (const r of st.runs) runSel.append(MF.el("option", { value: r.name, text: r.name }));
    runSel.value = run;
    fillVideos(run);
    const videoSel = document.getElementById("video");
    const video = params.get("video") || info.video;
    videoSel.value = video;
    if (videoSel.value !== video) videoSel.selectedIndex = 0;
    runSel.addEventListener("change", async () => {
      fillVideos(runSel.value);
      runSel.blur();
      await loadVideo(runSel.value, videoSel.value).catch((e) => MF.showError(e.message));
    });
    videoSel.addEventListener("change", async () => {
      videoSel.blur();
      await loadVideo(runSel.value, videoSel.value).catch((e) => MF.showError(e.message));
    });
    renderAnswers();
    drawLegend();
    document.getElementById("suggest-refresh").addEventListener("click", (ev) => { ev.target.blur(); loadSuggestions(); });
    await loadVideo(runSel.value, videoSel.value);
    await loadSuggestions();
    document.body.dataset.ready = "1";
  } catch (err) {
    MF.showError(`Cannot load the predictions: ${err.message}`);
  }
}

init();
