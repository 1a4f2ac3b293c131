// Helpers shared by the labelling and review pages (no external libraries).
"use strict";

const MF = {
  // Colours of the behaviours: the server sends mousefear's own (pipeline/plots.behavior_colors), the same in
  // every plot, report and labelled video; set with MF.setColors(data.colors) when a page loads its state.
  COLORS: {},
  NONE: "#BDBDBD",

  setColors(colors) { if (colors) MF.COLORS = Object.assign({}, MF.COLORS, colors); },

  color(behaviors, name) {
    return MF.COLORS[name] || MF.NONE;
  },

  async getJSON(url) {
    const resp = await fetch(url, { headers: { "Accept": "application/json" } });
    const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
    return data;
  },

  async postJSON(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await resp.json().catch(() => ({ error: `HTTP ${resp.status}` }));
    if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
    return data;
  },

  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  },

  svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  },

  showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.classList.remove("hidden");
  },

  clearError() {
    document.getElementById("error").classList.add("hidden");
  },

  // Seconds as m:ss.ss
  time(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds - 60 * m;
    return `${m}:${s.toFixed(2).padStart(5, "0")}`;
  },

  // A loop over images: shows `urls` one after the other every `intervalMs`.
  Player: class {
    constructor(img, caption) {
      this.img = img;
      this.caption = caption;
      this.urls = [];
      this.captions = [];
      this.i = 0;
      this.timer = null;
      this.intervalMs = 250;
      this.speed = 1;
      this.playing = true;
    }
    load(urls, captions, intervalMs) {
      this.stopTimer();
      this.urls = urls;
      this.captions = captions;
      this.intervalMs = intervalMs;
      this.i = 0;
      for (const u of urls) { const im = new Image(); im.src = u; }  // preload
      this.show();
      if (this.playing) this.startTimer();
    }
    show() {
      if (!this.urls.length) { this.img.removeAttribute("src"); this.caption.textContent = "no frames"; return; }
      this.img.src = this.urls[this.i];
      this.caption.textContent = this.captions[this.i] || "";
    }
    step() { this.i = (this.i + 1) % Math.max(1, this.urls.length); this.show(); }
    startTimer() {
      this.stopTimer();
      if (this.urls.length > 1) this.timer = setInterval(() => this.step(), this.intervalMs / this.speed);
    }
    stopTimer() { if (this.timer) clearInterval(this.timer); this.timer = null; }
    toggle() { this.playing = !this.playing; if (this.playing) this.startTimer(); else this.stopTimer(); return this.playing; }
    setSpeed(s) { this.speed = s; if (this.playing) this.startTimer(); }
    // Wire a play/pause button and a speed <select> (values: factors) to this player.
    bindControls(playButton, speedSelect) {
      playButton.addEventListener("click", (ev) => {
        ev.currentTarget.textContent = this.toggle() ? "pause" : "play";
        ev.currentTarget.blur();
      });
      speedSelect.addEventListener("change", (ev) => {
        this.setSpeed(parseFloat(ev.target.value));
        ev.target.blur();
      });
    }
  },

  // Hide the links to pages this server does not have (no exemplars yet, or nothing classified yet).
  async hideMissingPages() {
    try {
      const { pages } = await MF.getJSON("/api/pages");
      for (const a of document.querySelectorAll("header nav a")) {
        if (!pages.includes(new URL(a.href).pathname)) a.classList.add("hidden");
      }
    } catch (err) { /* links stay */ }
  },

  // Whether a key event comes from a form field (where keys must not answer).
  inField(ev) {
    const t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  },
};
