// reportd's web page: request a report, watch it progress, download it.
//
// Plain modern JavaScript with no framework and no build step. The access
// token lives in this module's memory only (no cookies, no storage): every
// API call sends it as an Authorization header, the live event stream is
// read with fetch (EventSource cannot send headers), and downloads ask the
// API for a short-lived link (?redirect=false) and then follow it.
// Everything the API returns is written with textContent, never as HTML.

const LIST_LIMIT = 20;
// The server sends a heartbeat every 15 s by default; a stream silent for
// longer than this is presumed dead and reopened.
const STREAM_SILENCE_MS = 65_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

const $ = (id) => document.getElementById(id);

// ---- session ---------------------------------------------------------

// session is the signed-in state; null when signed out. gen tells a late
// answer of a previous session from a current one.
let session = null;
let generation = 0;

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.error) || `The server answered ${status}.`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

// call sends one API request as the signed-in user (or with token; null
// sends none) and returns the decoded JSON; a failure throws an ApiError
// carrying the API's message. A 401 on the current session ends it.
async function call(method, path, { body, headers = {}, token, signal } = {}) {
  const own = token === undefined;
  const bearer = own ? session && session.token : token;
  const init = {
    method,
    headers: { Accept: "application/json", ...authHeader(bearer), ...headers },
    cache: "no-store",
    credentials: "omit",
    signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { error: "The server cannot be reached. Check your connection and try again." });
  }
  let data = null;
  if ((resp.headers.get("Content-Type") || "").includes("application/json")) {
    data = await resp.json().catch(() => null);
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data, resp.headers.get("Retry-After"));
    if (resp.status === 401 && own && session) endSession("Your sign-in is no longer accepted (the token may have expired). Sign in again.");
    throw err;
  }
  return data;
}

// authHeader is the Authorization header of a token; none without one
// (behind an authenticating proxy, which names the user itself).
function authHeader(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function signIn(token) {
  await begin(token, await call("GET", "/api/v1/report-types", { token }));
}

// begin starts a session: token is null when an authenticating proxy
// signed the user in (the page cannot sign them out then).
async function begin(token, types) {
  generation++;
  // stop ends everything the session started when it ends.
  session = { token, gen: generation, types: types.reportTypes || [], stream: null, stop: new AbortController() };
  $("token").value = "";
  $("sign-out").hidden = !token;
  $("signin").hidden = true;
  buildTypeSelect();
  startStream();
  await show(route(), { focus: true });
}

// endSession forgets the token and everything shown with it.
function endSession(why) {
  if (session) {
    session.stop.abort();
    if (session.stream) session.stream.abort();
  }
  session = null;
  generation++;
  reports.clear();
  cards.clear();
  $("reports").replaceChildren();
  $("report-view-card").replaceChildren();
  $("sign-out").hidden = true;
  $("home").hidden = true;
  $("report-view").hidden = true;
  showSignIn(why);
}

function showSignIn(why) {
  const r = route();
  $("signin-why").textContent = why ||
    (r.kind === "report"
      ? `Sign in to see report ${r.id}.`
      : "Sign in to request reports, follow their progress and download them.");
  $("signin").hidden = false;
  document.title = "Sign in · Reports";
  $("token").focus();
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("token");
  const token = input.value.trim();
  setFieldError(input, $("token-error"), token ? "" : "Enter your access token.");
  if (!token) {
    input.focus();
    return;
  }
  const button = $("signin-submit");
  button.disabled = true;
  try {
    await signIn(token);
  } catch (err) {
    const msg = err.status === 401 ? "This token was not accepted. Check it and try again." : err.message;
    setFieldError(input, $("token-error"), msg);
    input.focus();
  } finally {
    button.disabled = false;
  }
});

$("sign-out").addEventListener("click", () => {
  endSession("You are signed out.");
  announce("Signed out.");
});

// ---- views and navigation ---------------------------------------------

// route reads the view from the address: /reports/<id> or the list.
function route() {
  const m = location.pathname.match(/^\/reports\/([^/]+)\/?$/);
  return m ? { kind: "report", id: decodeURIComponent(m[1]) } : { kind: "list" };
}

// Links inside the page change the view without loading the page again,
// which would lose the token.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  if (a.getAttribute("href") !== location.pathname) history.pushState(null, "", a.getAttribute("href"));
  if (session) show(route(), { focus: true });
  else showSignIn();
});
window.addEventListener("popstate", () => (session ? show(route(), { focus: true }) : showSignIn()));

async function show(r, { focus } = {}) {
  const gen = generation;
  for (const id of [...cards.keys()]) dropCard(id, true);
  $("home").hidden = r.kind !== "list";
  $("report-view").hidden = r.kind !== "report";
  if (r.kind === "list") {
    document.title = "Reports";
    await loadList();
    if (focus && gen === generation) $("request-title").focus();
    return;
  }
  document.title = `Report ${r.id} · Reports`;
  $("report-view-title").textContent = `Report ${r.id}`;
  $("report-view-card").replaceChildren();
  setNotice($("report-view-message"), "Loading…");
  if (focus) $("report-view-title").focus();
  try {
    const rep = await call("GET", `/api/v1/reports/${encodeURIComponent(r.id)}`);
    if (gen !== generation) return;
    setNotice($("report-view-message"), "");
    upsert(rep);
    const card = newCard(rep.id, { detail: true });
    $("report-view-card").replaceChildren(card.el);
    $("report-view-title").textContent = `${typeTitle(rep.reportType)} report`;
  } catch (err) {
    if (gen !== generation || err.status === 401) return;
    setNotice($("report-view-message"), err.status === 404 || err.status === 400
      ? `There is no report ${r.id} that you may see. It may have been deleted, or it belongs to someone else.`
      : err.message);
  }
}

// ---- reports: state and cards -----------------------------------------

// reports holds the latest view of each report; cards the elements that
// show them (a list card and, in the report view, a detailed one).
const reports = new Map();
const cards = new Map();

const isTerminal = (s) => s === "completed" || s === "failed";

// upsert records a report's new state and updates its cards. A list read
// can be older than an event already applied: it never moves a report
// back from a finished state or to a lower progress.
function upsert(rep, { fromList = false } = {}) {
  const old = reports.get(rep.id);
  if (old) {
    if (isTerminal(old.status) && !isTerminal(rep.status)) return;
    if (fromList && old.status === rep.status && rep.progress < old.progress) return;
  }
  reports.set(rep.id, rep);
  for (const card of cards.get(rep.id) || []) card.update(rep);
  if (old && old.status !== rep.status) announceStatus(rep);
}

function removeReport(id) {
  reports.delete(id);
  for (const card of cards.get(id) || []) {
    if (card.detail) setNotice($("report-view-message"), `Report ${id} was deleted.`);
    card.el.remove();
  }
  cards.delete(id);
  refreshEmpty();
}

function announceStatus(rep) {
  const name = `${typeTitle(rep.reportType)} report ${rep.id}`;
  if (rep.status === "completed") announce(`${name} is ready to download.`);
  else if (rep.status === "failed") announce(`${name} failed: ${rep.errorMessage || "no reason given"}.`);
}

// ---- the list -----------------------------------------------------------

async function loadList() {
  const gen = generation;
  try {
    const list = await call("GET", `/api/v1/reports?limit=${LIST_LIMIT}`);
    if (gen !== generation) return;
    setNotice($("list-message"), "");
    for (const rep of list.reports || []) {
      upsert(rep, { fromList: true });
      placeInList(rep.id);
    }
    refreshEmpty();
  } catch (err) {
    if (gen !== generation || err.status === 401) return;
    setNotice($("list-message"), `Your reports could not be loaded: ${err.message}`);
  }
}

// placeInList shows a report in "My reports", newest first, at most
// LIST_LIMIT of them.
function placeInList(id) {
  const rep = reports.get(id);
  if (!rep) return;
  const ol = $("reports");
  let card = (cards.get(id) || []).find((c) => !c.detail);
  if (!card) card = newCard(id, { detail: false });
  const before = [...ol.children].find((li) => li !== card.el && newerFirst(rep, reports.get(li.dataset.id)) < 0);
  if (before) {
    if (card.el.nextSibling !== before) ol.insertBefore(card.el, before);
  } else if (card.el.parentNode !== ol || card.el.nextSibling) {
    ol.append(card.el);
  }
  while (ol.children.length > LIST_LIMIT) {
    const last = ol.lastElementChild;
    dropCard(last.dataset.id, false);
  }
  refreshEmpty();
}

function newerFirst(a, b) {
  if (!b) return -1;
  const d = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  return d !== 0 ? d : a.id < b.id ? 1 : -1;
}

function dropCard(id, detail) {
  const list = cards.get(id) || [];
  for (const c of list.filter((c) => c.detail === detail)) c.el.remove();
  const rest = list.filter((c) => c.detail !== detail);
  if (rest.length) cards.set(id, rest);
  else cards.delete(id);
}

function refreshEmpty() {
  $("empty").hidden = $("reports").children.length > 0;
}

// ---- one report's card ------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

const STATUS_WORDS = { pending: "Pending", processing: "Processing", completed: "Completed", failed: "Failed" };

// newCard builds the card of a report; update() refreshes it in place, so
// a focused button keeps its focus while the progress moves.
function newCard(id, { detail }) {
  const rep = reports.get(id);
  const key = `${detail ? "d" : "l"}-${id}`;
  const title = el("a", { href: `/reports/${encodeURIComponent(id)}`, "data-nav": true, text: typeTitle(rep.reportType) });
  const heading = el(detail ? "h2" : "h3", { id: `${key}-title` }, title, " ", el("span", { class: "muted", text: rep.format.toUpperCase() }));
  const badge = el("span", { class: "badge" });
  const progress = el("progress", { max: "100", "aria-label": `Progress of ${typeTitle(rep.reportType)} report ${id}`, "aria-describedby": `${key}-detail` });
  const percent = el("span", { class: "percent" });
  const line = el("p", { id: `${key}-detail`, "data-role": "detail" });
  const error = el("p", { class: "error-text", "data-role": "error", hidden: true });
  const download = el("button", { type: "button", "data-role": "download", text: "Download" });
  const cancel = el("button", { type: "button", class: "danger", "data-role": "cancel" });
  const facts = detail ? el("dl", { class: "facts" }) : null;
  const li = el(detail ? "article" : "li", { class: "report", "data-id": id, "aria-labelledby": `${key}-title` },
    el("div", { class: "report-head" }, heading, badge),
    el("p", { class: "params", text: describeParams(rep) }),
    el("div", { class: "progress-row" }, progress, percent),
    line, error,
    el("div", { class: "actions" }, download, cancel),
    facts ?? el("p", { class: "id", text: `${id} · requested ${formatTime(rep.createdAt)}` }));
  const card = {
    el: li,
    detail,
    update(r) {
      li.dataset.status = r.status;
      badge.className = `badge ${r.status}`;
      badge.textContent = STATUS_WORDS[r.status] || r.status;
      const active = !isTerminal(r.status);
      progress.hidden = percent.hidden = r.status === "failed";
      if (r.status === "pending" && !r.progress) {
        progress.removeAttribute("value");
        percent.textContent = "";
      } else {
        progress.value = r.status === "completed" ? 100 : r.progress;
        percent.textContent = `${r.status === "completed" ? 100 : r.progress}%`;
      }
      line.textContent = statusLine(r);
      error.hidden = r.status !== "failed";
      error.textContent = r.status === "failed" ? `Failed: ${r.errorMessage || "no reason was given."}` : "";
      download.hidden = r.status !== "completed";
      cancel.textContent = active ? "Cancel" : "Delete";
      if (facts) fillFacts(facts, r);
    },
  };
  download.addEventListener("click", () => downloadReport(id, download, error));
  cancel.addEventListener("click", () => cancelReport(id, cancel, error));
  card.update(rep);
  cards.set(id, [...(cards.get(id) || []), card]);
  return card;
}

function statusLine(r) {
  const parts = [];
  switch (r.status) {
    case "pending":
      parts.push(r.queuePosition ? `Waiting in the queue: position ${r.queuePosition}` : "Waiting to start");
      break;
    case "processing":
      parts.push(`${formatNumber(r.rows)} rows so far`);
      if (r.estimatedCompletion) parts.push(eta(r.estimatedCompletion));
      break;
    case "completed":
      parts.push(`${formatNumber(r.rows)} rows`);
      if (r.size) parts.push(formatBytes(r.size));
      if (r.completedAt) parts.push(`finished ${formatTime(r.completedAt)}`);
      break;
    case "failed":
      if (r.completedAt) parts.push(`Stopped ${formatTime(r.completedAt)}`);
      break;
  }
  return parts.join(" · ");
}

function fillFacts(dl, r) {
  const rows = [
    ["ID", r.id],
    ["Requested by", r.requestedBy],
    ["Shared with", (r.sharedWith || []).join(", ")],
    ["Requested", formatTime(r.createdAt)],
    ["Started", r.startedAt && formatTime(r.startedAt)],
    ["Finished", r.completedAt && formatTime(r.completedAt)],
    ["Time zone", r.timeZone],
    ["Size", r.size ? formatBytes(r.size) : ""],
    ["SHA-256", r.sha256],
  ];
  dl.replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

// Estimated completions move with the clock: refresh them now and then.
setInterval(() => {
  for (const [id, rep] of reports) {
    if (rep.status !== "processing" || !rep.estimatedCompletion) continue;
    for (const card of cards.get(id) || []) card.update(rep);
  }
}, 5_000);

// ---- actions on a report ----------------------------------------------

async function downloadReport(id, button, errorEl) {
  button.disabled = true;
  try {
    const link = await call("GET", `/api/v1/reports/${encodeURIComponent(id)}/download?redirect=false`);
    // Following the link downloads the file (it is served as an
    // attachment); the page stays.
    const a = el("a", { href: link.url, download: link.filename || "", hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    announce(`Downloading ${link.filename || id}.`);
  } catch (err) {
    if (err.status === 401) return;
    errorEl.hidden = false;
    errorEl.textContent = err.status === 410
      ? "The file is no longer stored. Request the report again."
      : `The download could not start: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function cancelReport(id, button, errorEl) {
  const rep = reports.get(id);
  const active = rep && !isTerminal(rep.status);
  const question = active
    ? `Cancel the ${typeTitle(rep.reportType)} report ${id}? It stops and is deleted.`
    : `Delete the report ${id} and its file?`;
  if (!window.confirm(question)) return;
  button.disabled = true;
  try {
    await call("DELETE", `/api/v1/reports/${encodeURIComponent(id)}`);
    const inDetail = route().kind === "report";
    removeReport(id);
    announce(active ? `Report ${id} cancelled.` : `Report ${id} deleted.`);
    $(inDetail ? "report-view-title" : "mine-title").focus();
  } catch (err) {
    if (err.status === 401) return;
    if (err.status === 404) {
      removeReport(id);
      return;
    }
    errorEl.hidden = false;
    errorEl.textContent = `It could not be deleted: ${err.message}`;
    button.disabled = false;
  }
}

// ---- the request form ---------------------------------------------------

function buildTypeSelect() {
  const select = $("f-type");
  const types = session.types;
  select.replaceChildren(...types.map((t) =>
    el("option", { value: t.name, text: t.ready ? typeTitle(t.name) : `${typeTitle(t.name)} (not available right now)`, disabled: !t.ready })));
  const first = types.find((t) => t.ready) || types[0];
  if (first) select.value = first.name;
  $("f-submit").disabled = !first;
  if (!first) setNotice($("form-error"), "No report types are defined yet.");
  buildParams();
  if (!$("f-tz-list").children.length && Intl.supportedValuesOf) {
    $("f-tz-list").append(...Intl.supportedValuesOf("timeZone").map((z) => el("option", { value: z })));
  }
}

$("f-type").addEventListener("change", () => {
  clearFormErrors();
  buildParams();
});

function currentType() {
  return session && session.types.find((t) => t.name === $("f-type").value);
}

// buildParams builds the parameter fields of the chosen report type from
// its parameter types.
function buildParams() {
  const t = currentType();
  $("f-type-hint").textContent = t ? t.description || "" : "";
  const params = t ? t.parameters : [];
  $("f-params").hidden = params.length === 0;
  $("f-params-fields").replaceChildren(...params.map(paramField));
  $("f-params-hint").textContent = t && t.rules && t.rules.length ? `Rules: ${t.rules.join("; ")}.` : "";
  const format = $("f-format");
  const formats = t ? t.formats : [];
  format.replaceChildren(...formats.map((f) => el("option", { value: f, text: FORMAT_WORDS[f] || f })));
  if (formats.includes("csv")) format.value = "csv";
  $("f-tz").placeholder = t ? t.timeZone : "";
  $("f-tz-hint").textContent = t ? `An IANA time zone, such as Europe/Berlin. Default: ${t.timeZone}.` : "";
}

const FORMAT_WORDS = { csv: "CSV", "csv.gz": "CSV, gzip-compressed", jsonl: "JSON Lines", xlsx: "Excel (xlsx)" };

function paramField(p) {
  const id = `p-${p.name}`;
  const hintText = [p.description, p.default !== undefined && p.default !== null ? `Default: ${p.default}.` : ""].filter(Boolean).join(" ");
  const hint = el("p", { id: `${id}-hint`, class: "hint", text: hintText, hidden: !hintText });
  const error = el("p", { id: `${id}-error`, class: "field-error", hidden: true });
  const described = `${id}-hint ${id}-error`;
  const label = el("label", { for: id }, humanize(p.name), p.required ? el("span", { class: "required", text: " (required)" }) : null);
  const common = { id, name: p.name, "data-param": p.name, "aria-describedby": described, required: p.required };
  const def = p.default ?? "";
  let input;
  switch (p.type) {
    case "boolean":
      input = el("input", { ...common, type: "checkbox", required: false, "data-type": "boolean" });
      input.checked = def === "true";
      return el("div", { class: "field check" }, input, label, hint, error);
    case "enum":
      input = el("select", common,
        ...(p.required && def ? [] : [el("option", { value: "", text: p.required ? "Choose…" : "(none)" })]),
        ...(p.enum || []).map((v) => el("option", { value: v, text: v })));
      input.value = def;
      break;
    case "date":
      input = el("input", { ...common, type: "date", min: p.min, max: p.max });
      input.value = def;
      break;
    case "datetime":
      input = el("input", { ...common, type: "datetime-local", step: "1" });
      if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(def)) input.value = def;
      break;
    case "integer":
    case "number":
      input = el("input", { ...common, type: "number", step: p.type === "integer" ? "1" : "any", min: p.min, max: p.max, inputmode: p.type === "integer" ? "numeric" : "decimal" });
      input.value = def;
      break;
    default:
      input = el("input", { ...common, type: "text", maxlength: p.maxLength, spellcheck: "false" });
      input.value = def;
  }
  return el("div", { class: "field" }, label, input, hint, error);
}

// collect reads the form into the API's request body. Empty fields are
// left out, so the report type's defaults apply and a missing required
// value is reported by the API at its field.
function collect() {
  const body = { reportType: $("f-type").value, parameters: {}, format: $("f-format").value };
  for (const input of $("f-params-fields").querySelectorAll("[data-param]")) {
    if (input.dataset.type === "boolean") body.parameters[input.dataset.param] = input.checked ? "true" : "false";
    else if (input.value !== "") body.parameters[input.dataset.param] = input.value;
  }
  const tz = $("f-tz").value.trim();
  if (tz) body.timeZone = tz;
  const shared = $("f-shared").value.split(",").map((s) => s.trim()).filter(Boolean);
  if (shared.length) body.sharedWith = shared;
  return body;
}

// The Idempotency-Key of the last attempt: a retry of the same request
// after a network failure reuses it, so it cannot create the report twice.
let lastAttempt = null;

function idempotencyKey(bodyText) {
  if (lastAttempt && lastAttempt.body === bodyText && lastAttempt.uncertain) return lastAttempt.key;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

$("request-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!session) return;
  clearFormErrors();
  const body = collect();
  const bodyText = JSON.stringify(body);
  const key = idempotencyKey(bodyText);
  const button = $("f-submit");
  button.disabled = true;
  button.textContent = "Requesting…";
  const gen = generation;
  try {
    const rep = await call("POST", "/api/v1/reports", { body, headers: { "Idempotency-Key": key } });
    lastAttempt = null;
    if (gen !== generation) return;
    upsert(rep);
    placeInList(rep.id);
    announce(`${typeTitle(rep.reportType)} report requested. It appears first in My reports.`);
  } catch (err) {
    lastAttempt = { key, body: bodyText, uncertain: err.status === 0 || err.status >= 500 };
    if (gen !== generation || err.status === 401) return;
    showFormErrors(err);
  } finally {
    button.disabled = false;
    button.textContent = "Request report";
  }
});

// fieldFor finds where an API field error belongs: the control and its
// error line.
function fieldFor(field) {
  const byId = (id) => ({ input: $(id), error: $(`${id}-error`) });
  if (field === "reportType") return byId("f-type");
  if (field === "format") return byId("f-format");
  if (field === "timeZone") return { ...byId("f-tz"), more: true };
  if (field === "sharedWith" || /^sharedWith\[\d+\]$/.test(field)) return { ...byId("f-shared"), more: true };
  if (field === "parameters") {
    return { input: $("f-params-fields").querySelector("[data-param]") || $("f-type"), error: $("f-params-error"), group: $("f-params") };
  }
  const m = field.match(/^parameters\.(.+)$/);
  if (m) {
    const input = $("f-params-fields").querySelector(`[data-param="${CSS.escape(m[1])}"]`);
    if (input) return { input, error: $(`p-${m[1]}-error`) };
  }
  return null;
}

function showFormErrors(err) {
  const fields = (err.body && err.body.fields) || [];
  const unplaced = [];
  let first = null;
  for (const f of fields) {
    const target = fieldFor(f.field);
    if (!target || !target.input || !target.error) {
      unplaced.push(`${f.field}: ${f.message}`);
      continue;
    }
    if (target.more) $("f-more").open = true;
    appendFieldError(target, f.message);
    first ??= target.input;
  }
  let summary;
  if (err.status === 429) {
    summary = `${err.message}${err.retryAfter ? ` Try again in ${err.retryAfter} s.` : ""}`;
  } else if (fields.length) {
    const n = fields.length - unplaced.length;
    summary = [n ? `The report was not requested: ${n === 1 ? "one field needs" : `${n} fields need`} correcting.` : "The report was not requested.", ...unplaced].join(" ");
  } else {
    summary = `The report was not requested: ${err.message}`;
  }
  setNotice($("form-error"), summary);
  (first || $("form-error")).focus();
}

function appendFieldError(target, message) {
  const { input, error, group } = target;
  error.hidden = false;
  error.textContent = error.textContent ? `${error.textContent} ${message}` : message;
  // A rule spans several fields: the group is marked, not one field.
  if (group) group.classList.add("invalid");
  else input.setAttribute("aria-invalid", "true");
}

function clearFormErrors() {
  setNotice($("form-error"), "");
  for (const e of $("request-form").querySelectorAll(".field-error")) {
    e.hidden = true;
    e.textContent = "";
  }
  for (const e of $("request-form").querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
  $("f-params").classList.remove("invalid");
}

function setFieldError(input, error, message) {
  error.textContent = message;
  error.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

// ---- live updates: GET /api/v1/events read with fetch -------------------

// startStream keeps one event stream open for the session, reopening it
// with exponential backoff (and jitter) when it drops. Each (re)connection
// reloads the list, so nothing that finished meanwhile is missed.
function startStream() {
  const s = session;
  const gen = s.gen;
  let failures = 0;
  let wake = null;
  const alive = () => session === s && gen === generation;
  // Back online: retry at once instead of waiting out the backoff.
  window.addEventListener("online", () => wake && wake(), { signal: s.stop.signal });
  (async () => {
    while (alive()) {
      const ctrl = new AbortController();
      s.stream = ctrl;
      let opened = 0;
      try {
        setLive(failures ? "Live updates: reconnecting…" : "Live updates: connecting…");
        const resp = await fetch("/api/v1/events", {
          headers: { Accept: "text/event-stream", ...authHeader(s.token) },
          cache: "no-store",
          credentials: "omit",
          signal: ctrl.signal,
        });
        if (resp.status === 401) {
          if (alive()) endSession("Your sign-in is no longer accepted (the token may have expired). Sign in again.");
          return;
        }
        if (!resp.ok || !resp.body) throw new Error(`the server answered ${resp.status}`);
        opened = Date.now();
        setLive("Live updates: on");
        if (failures) loadList();
        await readEvents(resp.body, ctrl, onStreamEvent);
      } catch (e) {
        if (!alive()) return;
      }
      if (!alive()) return;
      // A stream that stayed up a while starts the backoff afresh.
      failures = opened && Date.now() - opened > BACKOFF_MAX_MS ? 1 : failures + 1;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
      setLive(`Live updates: connection lost, retrying in ${Math.ceil(delay / 1000)} s.`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, delay);
        wake = () => { clearTimeout(t); resolve(); };
      });
      wake = null;
    }
  })();
}

// readEvents parses server-sent events from a fetch body until it ends,
// calling onEvent(name, data) for each; a stream silent for too long is
// aborted.
async function readEvents(body, ctrl, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let watchdog = setTimeout(() => ctrl.abort(), STREAM_SILENCE_MS);
  let buf = "";
  let name = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => ctrl.abort(), STREAM_SILENCE_MS);
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length) onEvent(name || "message", data.join("\n"));
          name = "";
          data = [];
        } else if (!line.startsWith(":")) {
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          let v = i < 0 ? "" : line.slice(i + 1);
          if (v.startsWith(" ")) v = v.slice(1);
          if (field === "event") name = v;
          else if (field === "data") data.push(v);
        }
      }
    }
  } finally {
    clearTimeout(watchdog);
  }
}

function onStreamEvent(name, data) {
  let payload;
  try {
    payload = JSON.parse(data);
  } catch {
    return;
  }
  if (name === "report") {
    const known = reports.has(payload.id);
    upsert(payload);
    // A report requested elsewhere (another tab, or shared with you).
    if (!known || !(cards.get(payload.id) || []).some((c) => !c.detail)) placeInList(payload.id);
  } else if (name === "deleted") {
    removeReport(payload.id);
  }
}

function setLive(text) {
  $("live").textContent = text;
}

// ---- small helpers ------------------------------------------------------

function announce(text) {
  const region = $("announce");
  // Clearing first makes screen readers repeat an identical message.
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

function setNotice(node, text) {
  node.textContent = text;
  node.hidden = !text;
}

function typeTitle(name) {
  return name ? name.charAt(0).toUpperCase() + name.slice(1) : "";
}

// humanize turns a parameter name such as startDate into "Start date".
function humanize(name) {
  const words = name.replace(/_/g, " ").replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// describeParams lists a report's parameters in its type's order.
function describeParams(r) {
  const t = session && session.types.find((x) => x.name === r.reportType);
  const order = t ? t.parameters.map((p) => p.name) : [];
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  const entries = Object.entries(r.parameters || {}).sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : 1));
  return entries.length ? entries.map(([k, v]) => `${humanize(k)}: ${v}`).join(" · ") : "No parameters";
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const numberFormat = new Intl.NumberFormat();
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function formatTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : timeFormat.format(t);
}

function formatNumber(n) {
  return numberFormat.format(n || 0);
}

function formatBytes(n) {
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

function eta(iso) {
  const left = (Date.parse(iso) - Date.now()) / 1000;
  if (Number.isNaN(left)) return "";
  if (left <= 5) return "finishing";
  const phrase = left < 90 ? relative.format(Math.round(left), "second") : relative.format(Math.round(left / 60), "minute");
  return `done ${phrase} (about ${new Intl.DateTimeFormat(undefined, { timeStyle: "short" }).format(Date.parse(iso))})`;
}

// ---- start ----------------------------------------------------------------

// Behind an authenticating proxy the API knows the user without a token:
// try that once, and ask for a token only if it does not.
(async () => {
  try {
    await begin(null, await call("GET", "/api/v1/report-types", { token: null }));
  } catch {
    showSignIn();
  }
})();
