// veil review: the job list (live progress, upload) and shared helpers. No framework, no build step.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function api(method, url, body) {
  const init = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const response = await fetch(url, init);
  if (response.status === 401) { location.href = "/ui/login"; throw new Error("signed out"); }
  if (!response.ok) {
    let detail = response.statusText;
    try { const data = await response.json(); detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail); } catch (e) { /* not JSON */ }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function duration(ms) {
  if (!ms && ms !== 0) return "–";
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function stateBadge(job) {
  const kind = job.state === "SUCCEEDED" ? "ok" : job.state === "FAILED" ? "bad" : "warn";
  return el("span", { class: `badge ${kind}`, title: job.message || "" }, job.state === "IN_PROGRESS" ? job.detail : job.state.toLowerCase());
}

const overviews = {};

function plural(count, word) { return `${count} ${word}${count === 1 ? "" : "s"}`; }

function coveredCell(job) {
  const seen = overviews[job.job_id];
  if (!seen) return el("td", { class: "muted" }, "–");
  const parts = Object.entries(seen.tracks).map(([name, count]) => plural(count, name));
  return el("td", {}, parts.length ? parts.join(" · ") : "nothing");
}

function reviewCell(job) {
  const approved = overviews[job.job_id]?.approved;
  if (!approved) return el("td", { class: "muted" }, job.state === "SUCCEEDED" ? "to review" : "–");
  return el("td", {}, el("span", { class: "badge ok" }, `approved by ${approved.by}`));
}

async function refreshOverviews(jobs) {
  const done = jobs.filter((job) => job.state === "SUCCEEDED").slice(0, 200);
  if (!done.length) return;
  const query = done.map((job) => `job_id=${encodeURIComponent(job.job_id)}`).join("&");
  try {
    for (const seen of (await api("GET", `/v1/review/overview?${query}`)).jobs) overviews[seen.job_id] = seen;
  } catch (error) { /* the list still shows; the next poll tries again */ }
}

function jobRow(job) {
  const name = job.source.key.split("/").pop();
  const link = job.state === "SUCCEEDED" ? el("a", { href: `/ui/jobs/${job.job_id}` }, name) : el("span", {}, name);
  const fraction = job.state === "SUCCEEDED" ? 1 : (job.progress.fraction || 0);
  const bar = el("span", { class: "bar" }, el("i"));
  bar.firstChild.style.width = `${Math.round(fraction * 100)}%`;
  const progress = el("td", {}, bar, `${Math.round(fraction * 100)} %`);
  const meta = job.video_metadata || {};
  return el("tr", { dataset: { job: job.job_id } },
    el("td", {}, link), el("td", {}, stateBadge(job)), progress,
    el("td", {}, duration(meta.DurationMillis)), el("td", {}, String(job.progress.frames_total ?? "–")),
    coveredCell(job), reviewCell(job),
    el("td", { class: "muted" }, new Date(job.created_at).toLocaleString()));
}

async function refreshJobs() {
  const rows = document.getElementById("job-rows");
  try {
    const page = await api("GET", "/v1/jobs?limit=200");
    await refreshOverviews(page.jobs);
    rows.replaceChildren(...(page.jobs.length ? page.jobs.map(jobRow)
      : [el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No jobs yet: upload a video."))]));
  } catch (error) { /* keep the last list; try again at the next poll */ }
}

function setUpUpload() {
  const form = document.getElementById("upload");
  const input = form.querySelector("input[type=file]");
  const button = form.querySelector("button");
  const status = document.getElementById("upload-status");
  input.addEventListener("change", () => {
    document.getElementById("upload-name").textContent = input.files[0]?.name || "No file chosen";
    button.disabled = !input.files.length;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", input.files[0]);
    button.disabled = true;
    status.textContent = `Uploading ${input.files[0].name}…`;
    try {
      await api("POST", "/v1/jobs/upload", data);
      status.textContent = "Uploaded: the job is queued.";
      form.reset();
      document.getElementById("upload-name").textContent = "No file chosen";
      refreshJobs();
    } catch (error) {
      status.textContent = `Upload failed: ${error.message}`;
      button.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const cell of document.querySelectorAll("td.when")) {
    cell.textContent = new Date(parseFloat(cell.dataset.at) * 1000).toISOString().replace("T", " ").slice(0, 19);
  }
  if (document.getElementById("job-rows")) {
    setUpUpload();
    refreshJobs();
    setInterval(refreshJobs, 2000);
  }
});
