// veil review: the review screen of one job. Needs jobs.js (api, el). Loads tracks, never per-frame boxes.
"use strict";

const R = {
  job: null, data: null, status: null, corrections: [], mode: "anonymized", version: 0,
  drawing: false, box: null, dragFrom: null, selected: null,
};
const $ = (id) => document.getElementById(id);

function fps() { return R.data?.fps || 25; }
function frameCount() { return R.data?.frames || 1; }
function currentFrame() { return Math.min(frameCount() - 1, Math.floor($("video").currentTime * fps() + 1e-4)); }
function seekFrame(frame) {
  const video = $("video");
  video.pause();
  video.currentTime = (Math.max(0, Math.min(frameCount() - 1, frame)) + 0.25) / fps();
}
function message(text) { $("message").textContent = text; }

function mediaUrl(kind) { return `/ui/media/${R.job}/${kind}?v=${R.version}`; }

function showVideo(kind) {
  const video = $("video");
  const frame = currentFrame();
  R.mode = kind;
  $("show-anon").classList.toggle("on", kind === "anonymized");
  $("show-orig").classList.toggle("on", kind === "original");
  video.src = mediaUrl(kind);
  video.addEventListener("loadedmetadata", () => seekFrame(frame), { once: true });
}

function label(track) { return `${track.class === "face" ? "Face" : track.class === "plate" ? "Plate" : track.class} ${track.track_id % 1000000}`; }

function deletion(trackId) {
  return R.corrections.find((c) => c.kind === "delete_track" && c.track_id === trackId);
}

async function setCovered(track, covered) {
  try {
    if (covered) {
      const correction = deletion(track.track_id);
      if (correction) await api("DELETE", `/v1/jobs/${R.job}/corrections/${correction.id}`);
    } else {
      await api("POST", `/v1/jobs/${R.job}/corrections`, { kind: "delete_track", track_id: track.track_id });
    }
    message(`${label(track)} will ${covered ? "" : "not "}be covered: re-render to apply.`);
  } catch (error) { message(`Could not change ${label(track)}: ${error.message}`); }
  await loadCorrections();
}

function trackRange(track) {
  const range = R.corrections.filter((c) => c.kind === "track_range" && c.track_id === track.track_id).pop();
  return range ? [range.start, range.end] : [track.first, track.last];
}

async function setRange(track, start, end) {
  if (end < start) { message("The end must come after the start."); return; }
  try {
    await api("POST", `/v1/jobs/${R.job}/corrections`, { kind: "track_range", track_id: track.track_id, start, end });
    message(`${label(track)} covered on frames ${start}–${end}: re-render to apply.`);
  } catch (error) { message(`Could not change ${label(track)}: ${error.message}`); }
  await loadCorrections();
}

function trackItem(track) {
  const covered = !deletion(track.track_id);
  const toggle = el("input", { type: "checkbox", "aria-label": `Cover ${label(track)}` });
  toggle.checked = covered;
  toggle.addEventListener("click", (event) => event.stopPropagation());
  toggle.addEventListener("change", () => setCovered(track, toggle.checked));
  const [start, end] = trackRange(track);
  const meta = `frames ${start}–${end} · ${track.seen_frames} seen, ${track.inferred_frames} inferred · conf. ${Math.round(track.confidence * 100)} %`;
  const selected = R.selected === track.track_id;
  const actions = selected ? el("div", { class: "actions" },
    el("button", { class: "link", title: "Cover this track from the current frame on", onclick: (e) => { e.stopPropagation(); setRange(track, currentFrame(), end); } }, "⇤ Start here"),
    el("button", { class: "link", title: "Cover this track up to the current frame", onclick: (e) => { e.stopPropagation(); setRange(track, start, currentFrame()); } }, "End here ⇥")) : null;
  const select = () => { R.selected = track.track_id; seekFrame(track.best_frame); renderTimeline(); };
  return el("li", { class: `${covered ? "" : "off"} ${selected ? "selected" : ""}`, dataset: { track: track.track_id }, onclick: select },
    el("img", { src: `/ui/media/${R.job}/thumb/${track.track_id}`, alt: "", loading: "lazy" }),
    el("div", {}, el("div", { class: "name" }, label(track)), el("div", { class: "meta" }, meta), actions),
    el("label", { class: "switch" }, toggle, covered ? "cover" : "keep"));
}

function followed(c) {
  // A followed region's steps are [frame, x1, y1, x2, y2, placed]: how many were placed on a detection, or by the tracker.
  if (!c.path) return "";
  const counts = {};
  for (const step of c.path) if (step[5]) counts[step[5]] = (counts[step[5]] || 0) + 1;
  const parts = ["detected", "tracked"].filter((how) => counts[how]).map((how) => `${counts[how]} ${how}`);
  return parts.length ? ` (followed: ${parts.join(", ")})` : " (followed)";
}

function describe(c) {
  const range = c.start !== undefined ? ` frames ${c.start}–${c.end}` : "";
  switch (c.kind) {
    case "delete_track": return `Keep track ${c.track_id % 1000000} visible`;
    case "track_range": return `Track ${c.track_id % 1000000} only on${range}`;
    case "region": return `Cover a region${followed(c)} on${range}`;
    case "mask": return `${c.invert ? "Cover all but an area" : "Fixed mask"} on${range}`;
    case "style": return `Style: ${c.style}`;
    case "audio": return `${c.bleep ? "Bleep" : "Mute"} the sound on${range}`;
    default: return c.kind;
  }
}

function renderCorrections() {
  const list = $("corrections");
  const items = R.corrections.map((c) => el("li", {}, el("span", {}, describe(c)),
    el("small", { class: "muted" }, c.user),
    el("button", { class: "link", onclick: async () => { await api("DELETE", `/v1/jobs/${R.job}/corrections/${c.id}`); message("Undone: re-render to apply."); loadCorrections(); } }, "Undo")));
  list.replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, "None yet.")]));
}

function span(cls, first, last) {
  const node = el("i", { class: cls });
  node.style.left = `${(first / frameCount()) * 100}%`;
  node.style.width = `max(2px, ${((last - first + 1) / frameCount()) * 100}%)`;
  return node;
}

function strip(children, onclick) {
  const node = el("div", { class: "strip" }, ...children);
  node.addEventListener("click", (event) => {
    const rect = node.getBoundingClientRect();
    seekFrame(Math.floor(((event.clientX - rect.left) / rect.width) * frameCount()));
    onclick?.();
  });
  return node;
}

function renderTimeline() {
  const rows = [];
  const doubts = R.data.doubtful.map((d) => { const n = span("doubt", d.frame, d.frame); n.title = d.reason; return n; });
  rows.push(el("div", { class: "row" }, el("span", { class: "label muted" }, "Doubtful"), strip(doubts)));
  for (const track of R.data.tracks) {
    const off = !!deletion(track.track_id);
    const runs = track.runs.map(([a, b, seen]) => span(seen ? "seen" : "inferred", a, b));
    for (const run of runs) run.style.opacity = `${0.35 + 0.65 * track.confidence}`;  // fainter: less sure
    const [start, end] = trackRange(track);
    if (start !== track.first || end !== track.last) runs.push(span("range", start, end));
    rows.push(el("div", { class: `row ${off ? "off" : ""} ${R.selected === track.track_id ? "selected" : ""}`, title: `${label(track)}: ${Math.round(track.confidence * 100)} % confidence` },
      el("span", { class: "label" }, label(track)), strip(runs, () => { R.selected = track.track_id; renderTimeline(); })));
  }
  const names = { region: "Region", mask: "Mask", audio: "Sound" };
  for (const c of R.corrections.filter((c) => names[c.kind])) {
    rows.push(el("div", { class: "row" }, el("span", { class: "label" }, `${names[c.kind]} ${c.id}`),
      strip([span("region", c.start, c.end)])));
  }
  const head = el("div", { class: "playhead", id: "playhead" });
  $("timeline").replaceChildren(...rows, head);
  $("track-count").textContent = `${R.data.tracks.length}`;
  $("tracks").replaceChildren(...R.data.tracks.map(trackItem));
  placePlayhead();
}

function placePlayhead() {
  const head = $("playhead");
  const firstStrip = document.querySelector("#timeline .strip");
  if (!head || !firstStrip) return;
  const box = $("timeline").getBoundingClientRect();
  const stripBox = firstStrip.getBoundingClientRect();
  const fraction = (currentFrame() + 0.5) / frameCount();
  head.style.left = `${stripBox.left - box.left + fraction * stripBox.width}px`;
}

function tick() {
  const frame = currentFrame();
  const seconds = $("video").currentTime;
  $("clock").textContent = `frame ${frame} / ${frameCount() - 1} · ${seconds.toFixed(2)}s`;
  $("play").textContent = $("video").paused ? "▶︎" : "❚❚";
  placePlayhead();
  drawOverlay();
}

function drawOverlay() {
  const canvas = $("overlay");
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  const frame = currentFrame();
  g.lineWidth = 2;
  for (const c of R.corrections) {
    if (!c.box || frame < c.start || frame > c.end) continue;
    const step = c.path ? c.path.find((p) => p[0] === frame) : null;
    if (c.path && !step) continue;
    const [x1, y1, x2, y2] = step ? step.slice(1) : c.box;
    g.setLineDash([6, 4]);
    g.strokeStyle = "#f5a524";
    g.strokeRect(x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h);
  }
  if (R.box) {
    g.setLineDash([]);
    g.strokeStyle = "#ffffff";
    g.fillStyle = "rgba(48, 86, 211, .25)";
    const [x1, y1, x2, y2] = R.box;
    g.fillRect(x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h);
    g.strokeRect(x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h);
  }
}

function setDrawing(on) {
  R.drawing = on;
  $("draw").classList.toggle("on", on);
  document.querySelector(".stage").classList.toggle("drawing", on);
  if (!on) { R.box = null; $("draw-panel").hidden = true; message(""); }
  if (on) { $("video").pause(); message("Drag a box over the picture."); }
  drawOverlay();
}

function pointer(event) {
  const rect = $("overlay").getBoundingClientRect();
  return [Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)), Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height))];
}

function setUpDrawing() {
  const canvas = $("overlay");
  canvas.addEventListener("mousedown", (event) => { R.dragFrom = pointer(event); R.box = null; });
  canvas.addEventListener("mousemove", (event) => {
    if (!R.dragFrom) return;
    const [x, y] = pointer(event), [a, b] = R.dragFrom;
    R.box = [Math.min(a, x), Math.min(b, y), Math.max(a, x), Math.max(b, y)];
    drawOverlay();
  });
  window.addEventListener("mouseup", () => {
    if (!R.dragFrom) return;
    R.dragFrom = null;
    if (!R.box || R.box[2] - R.box[0] < 0.005 || R.box[3] - R.box[1] < 0.005) { R.box = null; drawOverlay(); return; }
    const frame = currentFrame();
    $("from").value = Math.max(0, frame - Math.round(fps()));
    $("to").value = Math.min(frameCount() - 1, frame + Math.round(fps()));
    $("draw-panel").hidden = false;
    message("Choose the frames to cover, then add it.");
  });
  const add = (kind, invert) => async () => {
    const body = { kind, box: R.box.map((v) => Math.round(v * 1e6) / 1e6), start: parseInt($("from").value, 10), end: parseInt($("to").value, 10) };
    if (invert) body.invert = true;
    if (kind === "region" && $("follow").checked) {
      Object.assign(body, { follow: true, anchor: currentFrame(), start: Math.min(body.start, currentFrame()) });
      message("Following the box through the shot…");
    }
    try {
      await api("POST", `/v1/jobs/${R.job}/corrections`, body);
      message("Added: re-render to apply.");
      setDrawing(false);
      await loadCorrections();
    } catch (error) { message(`Not added: ${error.message}`); }
  };
  $("add-region").addEventListener("click", add("region", false));
  $("add-mask").addEventListener("click", add("mask", false));
  $("add-inverse").addEventListener("click", add("mask", true));
  $("cancel-draw").addEventListener("click", () => setDrawing(false));
}

function setAudioPanel(on) {
  $("audio-panel").hidden = !on;
  $("sound").classList.toggle("on", on);
  if (!on) return;
  const frame = currentFrame();
  $("audio-from").value = frame;
  $("audio-to").value = Math.min(frameCount() - 1, frame + Math.round(fps()));
  $("audio-from").focus();
}

function setUpAudio() {
  const add = (bleep) => async () => {
    const body = { kind: "audio", start: parseInt($("audio-from").value, 10), end: parseInt($("audio-to").value, 10), bleep };
    try {
      await api("POST", `/v1/jobs/${R.job}/corrections`, body);
      message(`The sound will be ${bleep ? "bleeped" : "muted"}: re-render to apply.`);
      setAudioPanel(false);
      await loadCorrections();
    } catch (error) { message(`Not added: ${error.message}`); }
  };
  $("sound").addEventListener("click", () => setAudioPanel($("audio-panel").hidden));
  $("mute").addEventListener("click", add(false));
  $("bleep").addEventListener("click", add(true));
  $("cancel-audio").addEventListener("click", () => setAudioPanel(false));
}

function showStatus() {
  const s = R.status, badge = $("state");
  let text = "not approved", cls = "badge warn";
  if (s.render_state === "rendering") {
    const p = s.render_progress;
    text = `rendering v${s.version}${p.frames_total ? ` · ${Math.round((100 * p.frames_done) / p.frames_total)} %` : "…"}`;
    cls = "badge";
  } else if (s.render_state === "failed") { text = `render failed: ${s.render_message}`; cls = "badge bad"; }
  else if (s.approved) { text = `approved by ${s.approved.by}`; cls = "badge ok"; }
  badge.textContent = `v${s.version} · ${text}`;
  badge.className = cls;
  $("rerender").disabled = s.render_state === "rendering";
  $("approve").disabled = s.render_state === "rendering" || !!s.approved;
}

async function loadStatus() {
  const before = R.status;
  R.status = await api("GET", `/v1/jobs/${R.job}/review`);
  showStatus();
  if (before && before.render_state === "rendering" && R.status.render_state !== "rendering") {
    R.version = R.status.version;
    message(R.status.render_state === "done" ? `Version ${R.version} is ready.` : "The render failed.");
    if (R.mode === "anonymized") showVideo("anonymized");
  }
  if (R.status.render_state === "rendering") setTimeout(loadStatus, 800);
}

async function loadCorrections() {
  R.corrections = (await api("GET", `/v1/jobs/${R.job}/corrections`)).corrections;
  const style = R.corrections.filter((c) => c.kind === "style").pop();
  $("style").value = style ? style.style : "";
  renderCorrections();
  renderTimeline();
  drawOverlay();
  loadStatus();
}

function nextDoubt() {
  const frame = currentFrame();
  const next = R.data.doubtful.find((d) => d.frame > frame) || R.data.doubtful[0];
  if (!next) { message("Nothing doubtful in this video."); return; }
  seekFrame(next.frame);
  message(`Frame ${next.frame}: ${next.reason}${next.track_id >= 0 ? ` (track ${next.track_id % 1000000})` : ""}.`);
}

function setUpKeys() {
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const video = $("video");
    const keys = {
      " ": () => (video.paused ? video.play() : video.pause()),
      ArrowLeft: () => seekFrame(currentFrame() - 1),
      ArrowRight: () => seekFrame(currentFrame() + 1),
      n: nextDoubt, d: () => setDrawing(!R.drawing), a: () => setAudioPanel($("audio-panel").hidden),
      o: () => showVideo(R.mode === "original" ? "anonymized" : "original"),
      Escape: () => { setDrawing(false); setAudioPanel(false); },
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
}

function setUpControls() {
  const video = $("video");
  $("play").addEventListener("click", () => (video.paused ? video.play() : video.pause()));
  $("back").addEventListener("click", () => seekFrame(currentFrame() - 1));
  $("fwd").addEventListener("click", () => seekFrame(currentFrame() + 1));
  $("show-anon").addEventListener("click", () => showVideo("anonymized"));
  $("show-orig").addEventListener("click", () => showVideo("original"));
  $("next-doubt").addEventListener("click", nextDoubt);
  $("draw").addEventListener("click", () => setDrawing(!R.drawing));
  $("rerender").addEventListener("click", async () => {
    try { await api("POST", `/v1/jobs/${R.job}/rerender`); message("Rendering a new version…"); loadStatus(); }
    catch (error) { message(`Cannot re-render: ${error.message}`); }
  });
  $("approve").addEventListener("click", async () => {
    try { R.status = await api("POST", `/v1/jobs/${R.job}/approve`, {}); showStatus(); message("Approved."); }
    catch (error) { message(`Cannot approve: ${error.message}`); }
  });
  $("style").addEventListener("change", async () => {
    const style = $("style").value;
    if (!style) return;
    await api("POST", `/v1/jobs/${R.job}/corrections`, { kind: "style", style });
    message(`Style ${style}: re-render to apply.`);
    loadCorrections();
  });
  for (const name of ["timeupdate", "seeked", "play", "pause"]) video.addEventListener(name, tick);
  const loop = () => { if (!video.paused) tick(); requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  window.addEventListener("resize", () => { sizeStage(); tick(); });
}

async function reloadTracks() {
  try { R.data = await api("GET", `/v1/jobs/${R.job}/tracks`); } catch (error) { return; }
  renderTimeline();
  if (R.data.cuts_pending) setTimeout(reloadTracks, 3000);
}

function sizeStage() {
  const aspect = (R.data.width || 16) / (R.data.height || 9);
  const stage = document.querySelector(".stage");
  stage.style.aspectRatio = `${aspect}`;
  stage.style.width = `min(100%, calc(50vh * ${aspect}))`;
}

document.addEventListener("DOMContentLoaded", async () => {
  R.job = $("review").dataset.job;
  try {
    R.data = await api("GET", `/v1/jobs/${R.job}/tracks`);
  } catch (error) { message(`Cannot load the job: ${error.message}`); return; }
  sizeStage();
  setUpControls();
  setUpDrawing();
  setUpAudio();
  setUpKeys();
  if (R.data.cuts_pending) setTimeout(reloadTracks, 3000);
  R.status = await api("GET", `/v1/jobs/${R.job}/review`);
  R.version = R.status.version;
  showVideo("anonymized");
  await loadCorrections();
  tick();
});
