// DeepDetector page: upload a file, follow the scan, show the verdict, heatmaps and timeline.
// Plain JavaScript, no libraries. Every text from a file or the server is inserted with
// textContent, never as HTML.
"use strict";

const API = "/api/v1";
const POLL_MS = 700;
// Titles only: how a verdict was reached is the result's own `explanation`, written by the scanner
// (deepdetector/verdict/explain.py) and shown the same way in the terminal, the JSON and the HTML report.
const VERDICTS = {
  fake: { title: "Likely manipulated" },
  real: { title: "No manipulation found" },
  no_face: { title: "No face found" },
  error: { title: "Could not analyse" },
};
const HEADS = { swap: "face-swap / blending artefacts", synthetic: "generated face", generated: "generator traces (photo pixels)" };

const $ = (id) => document.getElementById(id);
// A video whose probability fuses the face classifier's score with cues measured across frames
// (the first evidence entry is the classifier's own score): its threshold is on the fused scale,
// so frame scores and crops (the classifier's) are not marked against it.
const isFused = (r) => Boolean(r.evidence && r.evidence.length && r.evidence[0].name === "face_classifier");
let limits = { max_upload_bytes: null };
let pollTimer = null;
let shownScan = null;

// ---------------------------------------------------------------------------------------------
// helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const pct = (p) => (p === null || p === undefined ? "–" : `${Math.round(p * 100)}%`);

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const m = Math.floor(seconds / 60);
  const s = seconds - m * 60;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

function bytes(n) {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(n >= 10 * 1024 ** 2 ? 0 : 1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}

function when(unix) {
  return new Date(unix * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

class AuthNeeded extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    showSignIn();
    throw new AuthNeeded("sign in first");
  }
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : `the server answered ${response.status}`;
    throw new Error(detail);
  }
  return body;
}

function show(id, visible) { $(id).hidden = !visible; }

function showError(message) {
  $("error").textContent = message;
  show("error", Boolean(message));
}

function setBar(fraction) {
  const bar = document.querySelector(".bar");
  if (fraction === null) {
    bar.classList.add("indeterminate");
    $("bar-fill").style.width = "";
    bar.removeAttribute("aria-valuenow");
  } else {
    bar.classList.remove("indeterminate");
    const value = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    $("bar-fill").style.width = `${value}%`;
    bar.setAttribute("aria-valuenow", String(value));
  }
}

function setStatus(title, file, text, fraction) {
  show("status", true);
  $("status-title").textContent = title;
  $("status-file").textContent = file || "";
  $("status-text").textContent = text || "";
  setBar(fraction);
}

// ---------------------------------------------------------------------------------------------
// sign-in (only when the server was started with --token)

function showSignIn() {
  show("signin", true);
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  $("signin-error").textContent = "";
  const response = await fetch(`${API}/session`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  if (!response.ok) {
    $("signin-error").textContent = "That token is not right.";
    return;
  }
  $("token").value = "";
  show("signin", false);
  route();
}

// ---------------------------------------------------------------------------------------------
// upload

function upload(file) {
  if (!file) return;
  stopPolling();
  showError("");
  show("result", false);
  if (file.size === 0) {
    showError("This file is empty.");
    return;
  }
  if (limits.max_upload_bytes && file.size > limits.max_upload_bytes) {
    showError(`This file is ${bytes(file.size)}; this server accepts files up to ${bytes(limits.max_upload_bytes)}.`);
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `${API}/scans`);
  xhr.responseType = "json";
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) setStatus("Uploading", file.name, `${bytes(e.loaded)} of ${bytes(e.total)}`, e.loaded / e.total);
  };
  xhr.onload = () => {
    const body = xhr.response || {};
    if (xhr.status === 202) {
      history.pushState({}, "", `/scans/${body.id}`);
      setStatus("Waiting for analysis", file.name, "", null);
      follow(body.id);
      loadHistory();
    } else if (xhr.status === 401) {
      show("status", false);
      showSignIn();
    } else {
      show("status", false);
      showError(typeof body.detail === "string" ? body.detail : `Upload failed (the server answered ${xhr.status}).`);
    }
  };
  xhr.onerror = () => {
    show("status", false);
    showError("The upload failed: the connection to the server was lost (the file may be larger than the server accepts).");
  };
  setStatus("Uploading", file.name, "", 0);
  xhr.send(form);
}

function setupDrop() {
  const drop = $("drop");
  const input = $("file-input");
  input.addEventListener("change", () => {
    upload(input.files[0]);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) upload(files[0]);
  });
  // Dropping a file anywhere else must not make the browser navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// ---------------------------------------------------------------------------------------------
// following a scan

function stopPolling() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  shownScan = null;
}

async function follow(id) {
  stopPolling();
  shownScan = id;
  const tick = async () => {
    if (shownScan !== id) return;
    let scan;
    try {
      scan = await api(`${API}/scans/${id}`);
    } catch (err) {
      if (err instanceof AuthNeeded) return;
      show("status", false);
      showError(`Cannot show this scan: ${err.message}.`);
      return;
    }
    if (shownScan !== id) return;
    if (scan.status === "queued") {
      const where = scan.queue_position ? ` (position ${scan.queue_position} in the queue)` : "";
      setStatus("Waiting for analysis", scan.filename, `Another file is being analysed${where}.`, null);
    } else if (scan.status === "running") {
      const { done, total } = scan.progress;
      const text = total > 1 ? `Frame ${done} of ${total}` : "Looking for faces";
      setStatus("Analysing", scan.filename, text, total > 1 ? done / total : null);
    } else {
      show("status", false);
      renderResult(scan);
      loadHistory();
      return;
    }
    pollTimer = setTimeout(tick, POLL_MS);
  };
  await tick();
}

// ---------------------------------------------------------------------------------------------
// the result

function renderResult(scan) {
  const r = scan.result || { verdict: "error", error: scan.error, faces: [], frames: [], scores: {} };
  const verdict = r.verdict || "error";
  const info = VERDICTS[verdict] || VERDICTS.error;
  $("verdict-box").dataset.verdict = verdict;
  $("verdict").textContent = info.title;
  $("verdict").dataset.verdict = verdict;
  $("verdict-file").textContent = scan.filename;
  const prob = $("probability");
  prob.textContent = "";
  if (r.probability !== null && r.probability !== undefined) {
    prob.append(pct(r.probability), el("small", { text: "probability of manipulation" }));
  }
  let explain = r.explanation || "";
  if (verdict === "error" && !explain) explain = r.error || scan.error || "The file could not be analysed.";
  $("verdict-explain").textContent = explain;

  renderFacts(scan, r);
  renderProvenance(r);
  renderTimeline(r);
  renderEvidence(r);
  renderFaces(scan, r);
  $("json-link").href = scan.url;
  show("result", true);
}

function renderFacts(scan, r) {
  const facts = $("facts");
  facts.textContent = "";
  const add = (k, v) => { if (v) facts.append(el("dt", { text: k }), el("dd", { text: v })); };
  const m = r.media;
  if (m) {
    const kind = m.kind === "video" ? "Video" : "Image";
    let what = `${kind}, ${m.width}×${m.height}`;
    if (m.format) what += `, ${m.format}`;
    if (m.kind === "video" && m.duration) what += `, ${clock(m.duration)} long, ${m.sampled_frames} frames analysed`;
    add("File", what);
  }
  add("Size", bytes(scan.size));
  const heads = Object.entries(r.scores || {});
  const perHead = m && m.kind === "video" ? "Scores per head (each combined over the frames on its own)" : "Scores per head";
  if (heads.length) add(perHead, heads.map(([k, v]) => `${HEADS[k] || k} ${pct(v)}`).join(" · "));
  if (r.tracks && r.tracks.length > 1) add("People", `${r.tracks.length} (${r.tracks.filter((t) => t.verdict === "fake").length} judged manipulated)`);
  add("Model", r.model);
  if (r.timings && r.timings.total) add("Analysis time", `${r.timings.total.toFixed(1)} s`);
  add("Scanned", when(scan.finished || scan.created));
}

function renderEvidence(r) {
  // a video's cues across frames (docs/evidence.md): value, range in real videos, effect, words
  const table = $("evidence");
  table.textContent = "";
  const cues = (r.evidence || []).slice().sort((a, b) =>
    (a.effect === null) - (b.effect === null) || Math.abs(b.effect || 0) - Math.abs(a.effect || 0));
  const num = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(3));
  const video = r.media && r.media.kind === "video";
  $("evidence-title").textContent = video ? "Evidence across frames" : "Pixel evidence";
  $("evidence-note").textContent = video
    ? "Measured on the main face over consecutive frames. Each row: its value, the range in real videos, and how far it pushed the score (toward fake or real). Rows marked “not weighed” are shown only."
    : "How the picture was made, read at its own resolution by the pixel heads: each head's value and how far it pushed the face's score.";
  if (cues.length) {
    table.append(el("tr", {}, ...["Evidence", "Value", video ? "Real videos (5–95%)" : "Real photos (5–95%)", "Effect", "In words"].map((t) => el("th", { text: t }))));
  }
  for (const c of cues) {
    const value = c.value === null ? "–" : `${num(c.value)}${c.unit && c.unit !== "probability" ? " " + c.unit : ""}`;
    const range = c.value === null ? (c.reason || "not measured") : c.real_range ? `${num(c.real_range[0])} – ${num(c.real_range[1])}` : "–";
    const effect = c.effect === null || c.effect === undefined
      ? el("span", { class: "muted", text: "not weighed" })
      : el("span", { class: `pill ${c.effect > 0 ? "fake" : "real"}`, text: `${c.effect > 0 ? "+" : ""}${c.effect.toFixed(2)} toward ${c.effect > 0 ? "fake" : "real"}` });
    table.append(el("tr", {},
      el("td", { text: c.name.replaceAll("_", " "), title: c.description || "" }),
      el("td", { text: value }), el("td", { text: range }), el("td", {}, effect), el("td", { text: c.words || "" })));
  }
  show("evidence-section", cues.length > 0);
}

// What the file says about its own origin (C2PA, XMP, EXIF, PNG text, watermark, video tags).
function renderProvenance(r) {
  let box = $("provenance-section");
  if (!box) {
    box = el("section", { id: "provenance-section" });
    $("facts").after(box);
  }
  box.textContent = "";
  const p = r.provenance;
  if (!p) { box.hidden = true; return; }
  let summary = "Nothing in the file declares it generated.";
  if (p.generated === "verified") summary = `Declared generated, verified${p.generator ? ` (${p.generator})` : ""}: this decides the verdict.`;
  else if (p.generated === "claimed") summary = `Metadata claims the file was generated${p.generator ? ` (${p.generator})` : ""}; such claims are easy to write and do not change the verdict.`;
  if (p.c2pa) summary += ` Content Credentials (C2PA): ${p.c2pa}${p.c2pa === "valid" ? ", signer not checked against a trust list" : ""}.`;
  box.append(el("h3", { text: "Provenance" }), el("p", { class: "explain", text: summary }));
  if ((p.findings || []).length) {
    const list = el("dl", { class: "facts" });
    for (const f of p.findings) {
      list.append(el("dt", { text: `${f.source} · ${f.key} (${f.trust})` }), el("dd", { text: `${f.value}: ${f.meaning}` }));
    }
    box.append(list);
  }
  for (const w of p.warnings || []) box.append(el("p", { class: "warning", text: `Warning: ${w}` }));
  box.hidden = false;
}

function renderFaces(scan, r) {
  const box = $("faces");
  box.textContent = "";
  const isVideo = r.media && r.media.kind === "video";
  const tracks = new Map((r.tracks || []).map((t) => [t.track_id, t]));
  for (const h of scan.heatmaps || []) {
    const face = (r.faces || [])[h.face] || {};
    const where = face.timestamp !== null && face.timestamp !== undefined ? ` · at ${clock(face.timestamp)}` : "";
    // A video's crop is one frame of a person whose frames are combined: its own score is labelled
    // as such and coloured by that person's combined verdict, so it never contradicts the verdict.
    const track = tracks.get(h.track_id);
    const fused = isFused(r);
    const label = isVideo && fused ? r.verdict : isVideo && track ? track.verdict : h.probability >= (r.threshold ?? 0.5) ? "fake" : "real";
    const word = isVideo ? "frame score" : "face score";
    const img = el("img", { src: h.url, alt: `Face ${h.face + 1} and its heatmap`, loading: "lazy", width: "452", height: "224" });
    let text = ` face ${h.face + 1}${r.tracks && r.tracks.length > 1 ? `, person ${h.track_id + 1}` : ""}${where}`;
    if (isVideo && track) text += ` · this person over ${track.n_faces} frames${fused ? ", face classifier alone" : ""}: ${pct(track.probability)}`;
    const caption = el("figcaption", {},
      el("span", { class: `pill ${label}`, title: `${word}: probability that the face in this frame is manipulated`, text: `${word} ${pct(h.probability)}` }),
      text);
    box.append(el("figure", { class: "face" }, img, caption));
  }
  show("faces-section", box.childElementCount > 0);
}

function renderTimeline(r) {
  const frames = (r.frames || []).filter((f) => f !== null);
  const isVideo = r.media && r.media.kind === "video" && frames.length > 1;
  show("timeline-section", isVideo);
  const holder = $("timeline");
  holder.textContent = "";
  $("suspicious").textContent = "";
  if (!isVideo) return;

  const W = 720, H = 200, L = 44, R = 12, T = 12, B = 30;
  const fused = isFused(r);
  // frame scores are the face classifier's: compared with its own threshold (differs from the file's once fused)
  const threshold = r.face_threshold ?? r.threshold ?? 0.5;
  const useTime = frames.every((f) => f.timestamp !== null && f.timestamp !== undefined);
  const xs = frames.map((f) => (useTime ? f.timestamp : f.index));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const X = (v) => L + ((v - x0) / Math.max(x1 - x0, 1e-9)) * (W - L - R);
  const Y = (p) => T + (1 - p) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Probability of manipulation per analysed frame" });

  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: Y(p), y2: Y(p), class: "tl-grid" }));
    const label = svg("text", { x: L - 6, y: Y(p) + 4, "text-anchor": "end", class: "tl-label" });
    label.textContent = `${p * 100}%`;
    chart.append(label);
  }
  chart.append(svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "tl-axis" }));
  chart.append(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "tl-axis" }));
  if (threshold !== null) chart.append(svg("line", { x1: L, x2: W - R, y1: Y(threshold), y2: Y(threshold), class: "tl-threshold" }));
  for (const [v, anchor] of [[x0, "start"], [x1, "end"]]) {
    const t = svg("text", { x: X(v), y: H - 10, "text-anchor": anchor, class: "tl-label" });
    t.textContent = useTime ? clock(v) : `frame ${v}`;
    chart.append(t);
  }

  // The line breaks where a frame had no face (probability null).
  let segment = [];
  const flush = () => {
    if (segment.length > 1) chart.append(svg("polyline", { points: segment.join(" "), class: "tl-line" }));
    segment = [];
  };
  frames.forEach((f, i) => {
    if (f.probability === null || f.probability === undefined) { flush(); return; }
    segment.push(`${X(xs[i]).toFixed(1)},${Y(f.probability).toFixed(1)}`);
  });
  flush();
  const suspicious = [];
  frames.forEach((f, i) => {
    if (f.probability === null || f.probability === undefined) return;
    const bad = threshold !== null && f.probability >= threshold;
    if (bad) suspicious.push(f);
    const dot = svg("circle", { cx: X(xs[i]), cy: Y(f.probability), r: bad ? 4.5 : 3, class: `tl-point${bad ? " suspicious" : ""}` });
    const title = svg("title");
    title.textContent = `${useTime ? clock(f.timestamp) : `frame ${f.index}`}: ${pct(f.probability)}`;
    dot.append(title);
    chart.append(dot);
  });
  holder.append(chart);

  const note = $("suspicious");
  if (fused) note.append(`Frame scores are the face classifier's, marked against its own threshold of ${pct(threshold)}; the file's fused probability has its own threshold of ${pct(r.threshold)}. `);
  if (suspicious.length) {
    // frames above the threshold on their own; the verdict combines each person's frames (see the explanation above)
    note.append(`Frames scoring at or above the threshold of ${pct(threshold)} on their own (${suspicious.length} of ${frames.filter((f) => f.probability !== null && f.probability !== undefined).length}; the verdict combines all frames, as explained above): `);
    for (const f of suspicious.slice(0, 40)) {
      note.append(el("span", { class: "chip", text: `${useTime ? clock(f.timestamp) : `frame ${f.index}`} · ${pct(f.probability)}` }));
    }
    if (suspicious.length > 40) note.append(` and ${suspicious.length - 40} more`);
  } else {
    note.append(`No frame reached the threshold of ${pct(threshold)}.`);
  }
}

// ---------------------------------------------------------------------------------------------
// history

async function loadHistory() {
  let list;
  try {
    list = await api(`${API}/scans?limit=50`);
  } catch (_) {
    return;
  }
  const rows = $("history-rows");
  rows.textContent = "";
  for (const s of list.scans) {
    const verdict = s.status === "done" || s.status === "error" ? s.verdict || s.status : s.status;
    const label = verdict === "no_face" ? "no face" : verdict;
    const link = el("a", { href: s.page, "data-nav": "", text: s.filename });
    rows.append(el("tr", {},
      el("td", { text: when(s.created) }),
      el("td", { class: "file" }, link),
      el("td", {}, el("span", { class: `pill ${verdict}`, text: label })),
      el("td", { class: "num", text: s.probability === null ? "" : pct(s.probability) })));
  }
  show("history-table", list.scans.length > 0);
  show("history-empty", list.scans.length === 0);
}

// ---------------------------------------------------------------------------------------------
// addresses: / is the upload page, /scans/{id} a scan's stable page

function route() {
  const match = location.pathname.match(/^\/scans\/([0-9a-f]{32})$/);
  showError("");
  if (match) {
    show("result", false);
    setStatus("Loading", "", "", null);
    follow(match[1]);
  } else {
    stopPolling();
    show("status", false);
    show("result", false);
  }
  loadHistory();
}

async function init() {
  setupDrop();
  $("signin-form").addEventListener("submit", signIn);
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-nav]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState({}, "", a.getAttribute("href"));
    route();
  });
  window.addEventListener("popstate", route);
  try {
    const health = await api("/healthz");
    limits = health;
    $("limits").textContent = `Images and videos up to ${bytes(health.max_upload_bytes)}${health.model ? ` · model ${health.model}` : ""}`;
  } catch (_) { /* the page still works without the limits line */ }
  route();
}

document.addEventListener("DOMContentLoaded", init);
