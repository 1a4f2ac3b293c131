// Labelling page: play each candidate exemplar window, answer with a key, save at once.
"use strict";

const state = {
  behaviors: [],     // [{name, definition, key}]
  other: [],         // [{name, key}]  skip, unsure
  candidates: [],
  summary: null,
  current: 0,
  pending: 0,      // answers not saved yet
};
let player = null;

function names() { return state.behaviors.map((b) => b.name); }

function candidateColor(c) {
  return c.label ? MF.color(names(), c.label) : null;
}

function renderProgress() {
  const s = state.summary;
  document.getElementById("progress-text").textContent = `${s.answered} / ${s.total} answered`;
  document.getElementById("progress-bar").style.width = `${s.total ? (100 * s.answered) / s.total : 0}%`;
  document.getElementById("labelled-text").textContent =
    `${s.labelled} labelled, ${s.skipped} skipped, ${s.unsure} unsure`;
  const missing = document.getElementById("missing");
  missing.textContent = s.missing.length
    ? `Still without an example: ${s.missing.join(", ")}`
    : "Every behaviour has at least one example.";
  for (const b of state.behaviors) {
    const btn = document.querySelector(`button.answer[data-answer="${CSS.escape(b.name)}"]`);
    if (!btn) continue;
    btn.querySelector(".count").textContent = String(s.counts[b.name]);
    btn.classList.toggle("missing", s.counts[b.name] === 0);
  }
  renderStrip();
}

function renderStrip() {
  const strip = document.getElementById("strip");
  strip.replaceChildren();
  state.candidates.forEach((c, i) => {
    const cell = MF.el("button", {
      class: "cell", title: `${c.id}: ${c.label || c.answer || "not answered"}`, "data-id": c.id,
      onclick: () => select(i),
    });
    const col = candidateColor(c);
    if (col) cell.style.background = col;
    else if (c.answer === "skip") cell.classList.add("skip");
    else if (c.answer === "unsure") cell.classList.add("unsure");
    if (i === state.current) cell.classList.add("current");
    strip.append(cell);
  });
}

function renderAnswers() {
  const box = document.getElementById("answers");
  box.replaceChildren();
  for (const b of state.behaviors) {
    const sw = MF.el("span", { class: "swatch" });
    sw.style.background = MF.color(names(), b.name);
    box.append(MF.el("button", {
      class: "answer", "data-answer": b.name, title: b.definition,
      onclick: () => answer(b.name),
    }, MF.el("span", { class: "key", text: b.key || "" }), sw, MF.el("span", { class: "name", text: b.name }),
    MF.el("span", { class: "count", text: "0" })));
  }
  box.append(MF.el("div", { class: "sep" }));
  for (const o of state.other) {
    box.append(MF.el("button", { class: "answer", "data-answer": o.name, onclick: () => answer(o.name) },
      MF.el("span", { class: "key", text: o.key }), MF.el("span", { class: "name", text: o.name })));
  }
}

function renderCandidate() {
  const c = state.candidates[state.current];
  if (!c) return;
  const fps = c.fps || 0;
  const t0 = fps ? c.start_frame / fps : 0;
  const t1 = fps ? c.end_frame / fps : 0;
  document.getElementById("candidate-title").textContent =
    `Candidate ${state.current + 1} of ${state.candidates.length}: ${c.video_id}, ` +
    (fps ? `${MF.time(t0)}–${MF.time(t1)}` : `frames ${c.start_frame}–${c.end_frame - 1}`);
  const k = c.frames.length;
  const windowMs = fps ? (1000 * (c.end_frame - c.start_frame)) / fps : 1000;
  const captions = c.frames.map((_, i) => {
    const f = c.frame_indices[i];
    return f === undefined ? `frame ${i + 1} of ${k}` : `frame ${f} (${i + 1} of ${k})` + (fps ? `, ${MF.time(f / fps)}` : "");
  });
  player.load(c.frames, captions, k ? windowMs / k : 250);
  const sheet = document.getElementById("sheet");
  if (c.sheet) { sheet.src = c.sheet; sheet.classList.remove("hidden"); } else sheet.classList.add("hidden");
  const chosen = c.label || c.answer;
  for (const btn of document.querySelectorAll("button.answer")) {
    btn.classList.toggle("chosen", btn.dataset.answer === chosen);
  }
  const status = document.getElementById("status");
  status.classList.remove("saved");
  if (c.label) status.textContent = `Labelled ${c.label}` + (c.label_source === "labels" ? " (from the label files)" : "");
  else if (c.answer) status.textContent = `Answered ${c.answer}`;
  else status.textContent = "Not answered yet";
  document.querySelectorAll("#strip .cell").forEach((cell, i) => cell.classList.toggle("current", i === state.current));
}

function select(i) {
  if (!state.candidates.length) return;
  state.current = (i + state.candidates.length) % state.candidates.length;
  renderCandidate();
}

// The next candidate after `from` without label or answer (wrapping around), or null.
function nextOpen(from) {
  const n = state.candidates.length;
  for (let d = 1; d <= n; d++) {
    const c = state.candidates[(from + d) % n];
    if (!c.label && !c.answer) return (from + d) % n;
  }
  return null;
}

// Answers are shown at once and the page moves on; the saves run one after the other in the background, in
// the order given. A save that fails is undone on the page, which goes back to that candidate.
let saveQueue = Promise.resolve();

function answer(name) {
  const i = state.current;
  const c = state.candidates[i];
  if (!c) return;
  const before = { ...c };
  const isBehavior = state.behaviors.some((b) => b.name === name);
  state.candidates[i] = { ...c, answer: name, label: isBehavior ? name : "", label_source: isBehavior ? "person" : "" };
  const status = document.getElementById("status");
  const next = nextOpen(i);
  if (next === null) renderCandidate(); else select(next);
  renderStrip();
  state.pending = (state.pending || 0) + 1;
  status.classList.remove("saved");
  status.textContent = "saving…";
  saveQueue = saveQueue.then(async () => {
    try {
      const res = await MF.postJSON("/api/label/answer", { id: c.id, answer: name });
      const j = state.candidates.findIndex((x) => x.id === c.id);
      state.candidates[j] = res.candidate;
      state.summary = res.summary;
      MF.clearError();
      renderProgress();
      status.textContent = next === null && state.pending === 1
        ? `Saved ${name} for ${c.id}. Every candidate has an answer.` : `Saved ${name} for ${c.id}.`;
      status.classList.add("saved");
    } catch (err) {
      const j = state.candidates.findIndex((x) => x.id === c.id);
      state.candidates[j] = before;
      status.textContent = "";
      MF.showError(`Not saved (${c.id}: ${name}): ${err.message}`);
      select(j);
      renderStrip();
    } finally {
      state.pending -= 1;
      document.body.dataset.pending = String(state.pending);
    }
  });
}

function onKey(ev) {
  if (MF.inField(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  const b = state.behaviors.find((x) => x.key === key);
  const o = state.other.find((x) => x.key === key);
  if (b) answer(b.name);
  else if (o) answer(o.name);
  else if (ev.key === "ArrowRight") select(state.current + 1);
  else if (ev.key === "ArrowLeft") select(state.current - 1);
  else if (ev.key === " ") document.getElementById("play").click();
  else return;
  ev.preventDefault();
}

async function init() {
  player = new MF.Player(document.getElementById("frame"), document.getElementById("frame-caption"));
  document.getElementById("prev").addEventListener("click", () => select(state.current - 1));
  document.getElementById("next").addEventListener("click", () => select(state.current + 1));
  player.bindControls(document.getElementById("play"), document.getElementById("speed"));
  document.addEventListener("keydown", onKey);
  MF.hideMissingPages();
  try {
    const data = await MF.getJSON("/api/label/state");
    state.behaviors = data.behaviors;
    MF.setColors(data.colors);
    state.other = data.other;
    state.candidates = data.candidates;
    state.summary = data.summary;
    document.getElementById("project").textContent = `${data.project} — ${data.root}`;
    renderAnswers();
    const start = data.summary.next === null ? 0 : data.summary.next;
    state.current = start;
    renderProgress();
    renderCandidate();
    document.body.dataset.ready = "1";
  } catch (err) {
    MF.showError(`Cannot load the candidates: ${err.message}`);
  }
}

init();
