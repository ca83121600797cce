// bottle ui: live parts of the pages. The pages work without it (reload
// to see what changed); with it, decisions and a job's step lines appear
// as they happen. Everything from the server is set as text, never HTML.
"use strict";

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function watchDecisions(table) {
  const body = table.tBodies[0];
  const live = document.getElementById("live");
  const notice = document.getElementById("requests-changed");
  const es = new EventSource(table.dataset.events);
  es.onopen = () => { document.body.dataset.live = "open"; if (live) live.textContent = "live: new decisions appear at the top"; };
  es.onerror = () => { document.body.dataset.live = "reconnecting"; if (live) live.textContent = "reconnecting…"; };
  es.addEventListener("decision", (ev) => {
    const d = JSON.parse(ev.data);
    const row = document.createElement("tr");
    row.className = "d-" + d.Decision + " new";
    const t = new Date(d.Time);
    cell(row, isNaN(t) ? d.Time : t.toISOString()); // as bottle logs prints it
    cell(row, d.Decision);
    cell(row, d.Reason || d.Error);
    cell(row, d.Method);
    cell(row, d.Host);
    cell(row, d.Path).className = "path";
    cell(row, String(d.Status));
    cell(row, d.Mode + (d.Inject ? " +" + d.Inject : ""));
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > 500) body.deleteRow(-1);
  });
  es.addEventListener("pending", (ev) => {
    if (!notice) return;
    const n = JSON.parse(ev.data);
    notice.querySelector("span").textContent = n + " pending request(s) now.";
    notice.hidden = false;
  });
}

function watchJob(pre) {
  const status = document.getElementById("job-status");
  if (status.dataset.done === "true") return;
  const es = new EventSource(pre.dataset.events);
  es.addEventListener("line", (ev) => {
    pre.appendChild(document.createTextNode(JSON.parse(ev.data) + "\n"));
  });
  es.addEventListener("done", (ev) => {
    const code = JSON.parse(ev.data);
    status.textContent = code === 0 ? "Done." : "Failed (exit " + code + ").";
    status.dataset.done = "true";
    status.dataset.code = String(code);
    es.close();
  });
}

// The streams open after the page has loaded (they are not part of it);
// what happened in between comes first, from the offset the page gives.
window.addEventListener("load", () => {
  const table = document.getElementById("decision-table");
  if (table) watchDecisions(table);
  const pre = document.getElementById("job-lines");
  if (pre) watchJob(pre);
});
