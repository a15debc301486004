// shmring view: the page. Frames arrive over one WebSocket as
//   [u32 header length][JSON header][pixels, 8-byte aligned]
// and are acknowledged once drawn, so the server never sends faster than we draw.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token");
const withToken = (url) => (token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url);

const state = {
  ws: null, session: null, ring: params.get("ring"), rings: [], frame: null, pixels: null,
  paused: false, colormaps: {}, lut: null, zoom: 1, panX: 0, panY: 0, fitted: false, autoFit: true,
  drawn: [], framesDrawn: 0, lastShape: null,
};
const image = $("image");
const ctx = image.getContext("2d");
const offscreen = document.createElement("canvas");
const offctx = offscreen.getContext("2d");

// -- the ring list -------------------------------------------------------------------------

async function refreshRings() {
  try {
    const reply = await fetch(withToken("api/rings"), { cache: "no-store" });
    if (!reply.ok) throw new Error(await reply.text());
    const body = await reply.json();
    state.rings = body.rings;
    $("directory").textContent = body.directory + (body.legacy_dir ? " + " + body.legacy_dir : "");
    renderRings();
    const usable = state.rings.filter((r) => r.kind === "native" || r.kind === "legacy");
    if (!state.ring && usable.length) select(usable[0].name);
  } catch (err) {
    showNotice("problem", "cannot list rings: " + err.message);
  }
}

function renderRings() {
  const body = $("rings").tBodies[0];
  body.replaceChildren();
  $("no-rings").hidden = state.rings.length > 0;
  for (const r of state.rings) {
    const tr = document.createElement("tr");
    tr.dataset.name = r.name;
    const broken = r.kind !== "native" && r.kind !== "legacy";
    if (broken) tr.classList.add("broken");
    if (r.name === state.ring) tr.classList.add("selected");
    const sub = broken ? `${r.kind}: ${r.problem}` : describe(r);
    const cells = [
      `<span class="name"></span><span class="sub"></span>`,
      fmt(r.kind === "legacy" ? (r.queued != null ? r.queued + " q" : "") : r.frames),
      r.rate_hz == null ? "–" : r.rate_hz.toFixed(1) + " Hz", fmt(r.lag), fmt(r.lost),
      r.writer_alive == null ? "–" : r.writer_alive ? "alive" : "none",
    ];
    tr.innerHTML = cells.map((c, i) => `<td class="${i ? "num" : ""}">${i ? escapeHtml(String(c)) : c}</td>`).join("");
    tr.querySelector(".name").textContent = r.name;
    tr.querySelector(".sub").textContent = sub;
    if (!broken) tr.addEventListener("click", () => select(r.name));
    body.appendChild(tr);
  }
}

function describe(r) {
  if (r.kind === "legacy") return `legacy SharedMem, ${r.slots} slots`;
  const shape = r.shape ? r.shape.slice().reverse().join("x") + " " + r.dtype : "any frame";
  return `${shape}, ${r.slots} slots, ${r.policy}`;
}

const fmt = (v) => (v == null ? "–" : String(v));
const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function select(name) {
  state.ring = name;
  state.frame = null;
  state.pixels = null;
  state.fitted = false;
  state.lastShape = null;
  $("ring-name").textContent = name;
  $("seq").textContent = "–";
  $("meta").tBodies[0].replaceChildren();
  hideNotice();
  renderRings();
  send({ type: "select", ring: name });
  const url = new URL(location.href);
  url.searchParams.set("ring", name);
  history.replaceState(null, "", url);
}

// -- the stream ------------------------------------------------------------------------------

function connect() {
  const url = new URL(withToken("ws"), location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => {
    $("connection").textContent = "connected";
    sendStretch();
    if (state.paused) send({ type: "pause" });
    if (state.ring) send({ type: "select", ring: state.ring });
  };
  ws.onmessage = (event) => (typeof event.data === "string" ? onMessage(JSON.parse(event.data)) : onFrame(event.data));
  ws.onclose = () => {
    $("connection").textContent = "disconnected: reconnecting…";
    setTimeout(connect, 1000);
  };
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function onMessage(m) {
  if (m.type === "hello") {
    state.session = m.session;
    $("connection").textContent = `connected (at most ${m.max_fps} frames/s, binned above ${m.max_side} px)`;
  } else if (m.type === "status") {
    $("rate").textContent = m.rate_hz == null ? "–" : m.rate_hz.toFixed(1) + " Hz";
    $("lost").textContent = m.lost == null ? "–" : String(m.lost);
    $("lost").title = m.readers == null ? "" : `frames lost by the ring's ${m.readers} other live readers`;
  } else if (m.type === "problem") {
    showNotice("problem", m.message);
  } else if (m.type === "notice") {
    showNotice("info", m.message);
    if (m.kind === "shape") state.fitted = false;
  }
}

function onFrame(buffer) {
  const length = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  const start = 4 + length;
  if (state.paused && state.frame && header.seq !== state.frame.seq) {
    send({ type: "ack", seq: header.seq }); // in flight when the user paused: the shown frame stays
    return;
  }
  const Kind = { uint8: Uint8Array, uint16: Uint16Array, int16: Int16Array, float32: Float32Array }[header.kind];
  state.frame = header;
  state.pixels = new Kind(buffer, start, (buffer.byteLength - start) / Kind.BYTES_PER_ELEMENT);
  if ($("notice").classList.contains("problem") && header.ring === state.ring) hideNotice();
  showFrameInfo(header);
  render();
  send({ type: "ack", seq: header.seq });
  const now = performance.now();
  state.framesDrawn += 1;
  state.drawn = state.drawn.filter((t) => now - t < 2000).concat([now]);
  const span = (state.drawn[state.drawn.length - 1] - state.drawn[0]) / 1000;
  $("fps").textContent = state.drawn.length > 1 && span > 0 ? ((state.drawn.length - 1) / span).toFixed(1) + " fps" : "–";
}

function showFrameInfo(h) {
  $("seq").textContent = String(h.seq);
  $("timestamp").textContent = h.timestamp_ns ? new Date(h.timestamp_ns / 1e6).toISOString().replace("T", " ").replace("Z", " UTC") : "–";
  // Shapes read WIDTHxHEIGHT, as image sizes are (and as the command line writes them).
  const shape = h.channels === 3 ? h.shape.slice(0, 2).reverse().join("x") + " RGB" : h.shape.slice().reverse().join("x");
  $("shape").textContent = `${shape} ${h.dtype}` + (h.bin > 1 ? `, shown binned ${h.bin}x${h.bin}` : "") + (h.flags ? `, flags ${h.flags}` : "");
  const key = shape + h.dtype;
  if (state.lastShape !== key) state.fitted = false;
  state.lastShape = key;
  const rows = Object.entries(h.meta).map(([k, v]) => {
    const tr = document.createElement("tr");
    const a = document.createElement("td");
    const b = document.createElement("td");
    a.textContent = k;
    b.textContent = String(v);
    tr.append(a, b);
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.innerHTML = '<td class="muted">no metadata</td>';
    rows.push(tr);
  }
  $("meta").tBodies[0].replaceChildren(...rows);
  updateSaveLinks();
}

// -- drawing ------------------------------------------------------------------------------------

const curves = {
  linear: (t) => t,
  log: (t) => Math.log10(1 + 1000 * t) / Math.log10(1001),
  asinh: (t) => Math.asinh(t / 0.1) / Math.asinh(10),
};
const LUT_SIZE = 4096;

function buildLut() {
  // Curve and colour map folded into one table of LUT_SIZE entries: one lookup per pixel.
  const stops = state.colormaps[$("cmap").value] || [[0, 0, 0], [255, 255, 255]];
  const curve = curves[$("curve").value];
  const lut = new Uint8Array(LUT_SIZE * 4);
  const grey = new Uint8Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) {
    const c = Math.min(1, Math.max(0, curve(i / (LUT_SIZE - 1))));
    grey[i] = Math.round(c * 255);
    const p = c * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(p));
    const f = p - k;
    for (let j = 0; j < 3; j++) lut[i * 4 + j] = Math.round(stops[k][j] * (1 - f) + stops[k + 1][j] * f);
    lut[i * 4 + 3] = 255;
  }
  state.lut = { rgba: new Uint32Array(lut.buffer), grey };
}

function render() {
  const h = state.frame;
  if (!h) return;
  if (!state.lut) buildLut();
  if (offscreen.width !== h.width || offscreen.height !== h.height) {
    offscreen.width = h.width;
    offscreen.height = h.height;
  }
  const out = offctx.createImageData(h.width, h.height);
  const scale = (LUT_SIZE - 1) / (h.high - h.low);
  const low = h.low;
  const src = state.pixels;
  const n = h.width * h.height;
  if (h.channels === 3) {
    const grey = state.lut.grey;
    const dst = out.data;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 3; j++) {
        let t = (src[i * 3 + j] - low) * scale;
        t = t < 0 ? 0 : t > LUT_SIZE - 1 ? LUT_SIZE - 1 : t;
        dst[i * 4 + j] = grey[t | 0];
      }
      dst[i * 4 + 3] = 255;
    }
  } else {
    const rgba = state.lut.rgba;
    const dst = new Uint32Array(out.data.buffer);
    for (let i = 0; i < n; i++) {
      let t = (src[i] - low) * scale;
      t = t < 0 || t !== t ? 0 : t > LUT_SIZE - 1 ? LUT_SIZE - 1 : t;
      dst[i] = rgba[t | 0];
    }
  }
  offctx.putImageData(out, 0, 0);
  if (!state.fitted) fit();
  paint();
  drawHistogram(h);
}

function paint() {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(image.clientWidth * dpr);
  const hgt = Math.round(image.clientHeight * dpr);
  if (image.width !== w || image.height !== hgt) {
    image.width = w;
    image.height = hgt;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, w, hgt);
  if (!state.frame) return;
  ctx.imageSmoothingEnabled = false;
  ctx.setTransform(state.zoom * dpr, 0, 0, state.zoom * dpr, state.panX * dpr, state.panY * dpr);
  ctx.drawImage(offscreen, 0, 0);
}

function fit() {
  const h = state.frame;
  if (!h) return;
  const zoom = Math.min(image.clientWidth / h.width, image.clientHeight / h.height);
  state.zoom = zoom > 0 ? zoom : 1;
  state.panX = (image.clientWidth - h.width * state.zoom) / 2;
  state.panY = (image.clientHeight - h.height * state.zoom) / 2;
  state.fitted = true;
  state.autoFit = true;
}

function zoomAt(factor, x, y) {
  state.autoFit = false;
  const zoom = Math.min(256, Math.max(0.02, state.zoom * factor));
  state.panX = x - ((x - state.panX) * zoom) / state.zoom;
  state.panY = y - ((y - state.panY) * zoom) / state.zoom;
  state.zoom = zoom;
  paint();
}

function drawHistogram(h) {
  const canvas = $("histogram");
  const g = canvas.getContext("2d");
  const { counts, low, high } = h.histogram;
  g.clearRect(0, 0, canvas.width, canvas.height);
  const top = Math.log10(1 + Math.max(...counts));
  const bar = canvas.width / counts.length;
  g.fillStyle = "#5fb3ff";
  counts.forEach((c, i) => {
    const height = top > 0 ? (Math.log10(1 + c) / top) * (canvas.height - 4) : 0;
    g.fillRect(i * bar, canvas.height - height, Math.max(1, bar - 0.5), height);
  });
  const x = (v) => ((v - low) / (high - low || 1)) * canvas.width;
  g.fillStyle = "#ffc857";
  g.fillRect(Math.max(0, Math.min(canvas.width - 2, x(h.low))), 0, 2, canvas.height);
  g.fillRect(Math.max(0, Math.min(canvas.width - 2, x(h.high))), 0, 2, canvas.height);
  $("levels").textContent = `${h.histogram.low.toPrecision(6)} … ${h.histogram.high.toPrecision(6)} (log counts); shown ${h.low.toPrecision(6)} … ${h.high.toPrecision(6)} (${$("limits").value})`;
}

// -- the cursor -------------------------------------------------------------------------------------

function pixelAt(event) {
  const h = state.frame;
  if (!h) return null;
  const rect = image.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left - state.panX) / state.zoom);
  const y = Math.floor((event.clientY - rect.top - state.panY) / state.zoom);
  if (x < 0 || y < 0 || x >= h.width || y >= h.height) return null;
  return { x, y };
}

function showPixel(event) {
  const h = state.frame;
  const p = pixelAt(event);
  if (!h || !p) {
    $("pixel").textContent = "–";
    return;
  }
  const i = p.y * h.width + p.x;
  const value = h.channels === 3 ? Array.from(state.pixels.slice(i * 3, i * 3 + 3)).map(num).join(", ") : num(state.pixels[i]);
  const b = h.bin;
  const where = b > 1 ? `x ${p.x * b}–${p.x * b + b - 1}, y ${p.y * b}–${p.y * b + b - 1}` : `x ${p.x}, y ${p.y}`;
  $("pixel").textContent = `${where}: ${value}` + (b > 1 ? ` (mean of ${b}x${b})` : "");
}

const num = (v) => (Number.isInteger(v) ? String(v) : Number(v).toPrecision(6));

let drag = null;
image.addEventListener("mousedown", (e) => (drag = { x: e.clientX, y: e.clientY, panX: state.panX, panY: state.panY }));
window.addEventListener("mouseup", () => (drag = null));
image.addEventListener("mousemove", (e) => {
  if (drag) {
    state.autoFit = false;
    state.panX = drag.panX + e.clientX - drag.x;
    state.panY = drag.panY + e.clientY - drag.y;
    paint();
  }
  showPixel(e);
});
image.addEventListener("wheel", (e) => {
  e.preventDefault();
  const rect = image.getBoundingClientRect();
  zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - rect.left, e.clientY - rect.top);
}, { passive: false });
image.addEventListener("dblclick", () => {
  fit();
  paint();
});
// While the user has not zoomed or panned, the frame keeps fitting the stage as it resizes
// (the window, or the lines above it wrapping once a frame's details arrive).
new ResizeObserver(() => {
  if (state.autoFit) fit();
  paint();
}).observe(image);

// -- controls -----------------------------------------------------------------------------------------

function sendStretch() {
  send({ type: "stretch", seq: state.frame ? state.frame.seq : null, limits: $("limits").value, percent: Number($("percent").value), curve: $("curve").value, cmap: $("cmap").value });
}

function updateSaveLinks() {
  if (!state.session) return;
  const shown = state.frame ? `&seq=${state.frame.seq}` : "";
  const base = `api/save?session=${encodeURIComponent(state.session)}${shown}`;
  $("save-fits").href = withToken(`${base}&format=fits`);
  const h = state.frame;
  const view = `&limits=${$("limits").value}&percent=${$("percent").value}&curve=${$("curve").value}&cmap=${$("cmap").value}`;
  $("save-png").href = withToken(`${base}&format=png${view}` + (h ? `&low=${h.low}&high=${h.high}` : ""));
}

function showNotice(kind, text) {
  const n = $("notice");
  n.className = kind;
  n.textContent = text;
  n.hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
  $("notice").className = "";
}

$("limits").addEventListener("change", () => {
  $("percent-label").hidden = $("limits").value !== "percentile";
  sendStretch();
});
$("percent").addEventListener("change", sendStretch);
for (const id of ["curve", "cmap"]) {
  $(id).addEventListener("change", () => {
    buildLut();
    render();
    updateSaveLinks();
    sendStretch();
  });
}
$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  $("pause").classList.toggle("paused", state.paused);
  send({ type: state.paused ? "pause" : "resume" });
});
$("zoom-in").addEventListener("click", () => zoomAt(1.5, image.clientWidth / 2, image.clientHeight / 2));
$("zoom-out").addEventListener("click", () => zoomAt(1 / 1.5, image.clientWidth / 2, image.clientHeight / 2));
$("zoom-fit").addEventListener("click", () => {
  fit();
  paint();
});
$("zoom-one").addEventListener("click", () => {
  const dpr = window.devicePixelRatio || 1;
  zoomAt(1 / dpr / state.zoom, image.clientWidth / 2, image.clientHeight / 2);
});

async function start() {
  const maps = await fetch(withToken("static/colormaps.json")).then((r) => r.json());
  state.colormaps = maps;
  $("cmap").replaceChildren(...Object.keys(maps).map((name) => new Option(name, name)));
  if (state.ring) $("ring-name").textContent = state.ring;
  connect();
  refreshRings();
  setInterval(refreshRings, 1000);
}

start();
