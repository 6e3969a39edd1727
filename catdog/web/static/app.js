// The upload page: presign through the API, POST straight to S3 with progress, poll for the label.
"use strict";

const MAX_PARALLEL_UPLOADS = 3;
const POLL_FIRST_MS = 300;
const POLL_MAX_MS = 2000;
const POLL_GIVE_UP_MS = 90000;
// The API's throttle (template.yaml: 20 requests/s) is shared by every visitor and route; the label polls
// of one page are spaced this far apart whatever the number of photos waiting, 4 a second at most.
const POLL_SPACING_MS = 250;
const PRESIGN_GIVE_UP_MS = 30000; // throttled that long: the API is overloaded, say so
// What a file without a type (no or an unknown extension, e.g. "IMG_1234") starts with, if it is a photo.
const SIGNATURES = [
  ["image/jpeg", /^\xff\xd8\xff/],
  ["image/png", /^\x89PNG/],
  ["image/gif", /^GIF8/],
  ["image/webp", /^RIFF[^]{4}WEBP/],
  ["image/bmp", /^BM/],
  ["image/tiff", /^(II\*\0|MM\0\*)/],
];

// This tab's uploads as the page knows them: key, name and the label or error once received, never the
// photo. sessionStorage: it survives a reload and a reopened tab, but is not shared with other tabs and
// ends with the tab. Without it (disabled, private mode, full) the page works and forgets on reload.
const STORE = "catdog.uploads.v1";
const SETTLED = '.card[data-state="done"], .card[data-state="error"]';

const results = document.getElementById("results");
const template = document.getElementById("card-template");
const dropzone = document.getElementById("dropzone");
const clear = document.getElementById("clear");
const remembered = new WeakMap(); // a card's element → {key, name, since} or with label, or error
let service = { max_bytes: null, image_types: [] };
let uploading = 0; // S3 POSTs in flight: at most MAX_PARALLEL_UPLOADS
const waiting = []; // uploads waiting for one of those slots
let unsettled = 0; // photos not yet labelled or failed: leaving the page could lose them
let nextPoll = 0; // when this page may next ask for a label (POLL_SPACING_MS)

fetch("api/health")
  .then((response) => {
    // an error answer (a throttled API's {"message": …}) is no health: the page keeps its defaults
    if (!response.ok) throw new Error(`health: ${response.status}`);
    return response.json();
  })
  .then((health) => {
    service = health;
    const mb = (health.max_bytes / 1048576).toLocaleString(undefined, { maximumFractionDigits: 1 });
    document.getElementById("limits").textContent = `${health.type_names}, up to ${mb} MB each, several at once.`;
    for (const input of document.querySelectorAll("input[type=file]")) input.accept = health.accept;
    document.getElementById("service").textContent = `Bucket: ${health.bucket}.`;
  })
  .catch(() => {});

for (const input of document.querySelectorAll("input[type=file]")) {
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
}

for (const type of ["dragenter", "dragover"]) {
  document.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("dragging");
  });
}
for (const type of ["dragleave", "drop"]) {
  document.addEventListener(type, (event) => {
    event.preventDefault();
    if (type === "drop" || event.relatedTarget === null) dropzone.classList.remove("dragging");
  });
}
document.addEventListener("drop", (event) => addFiles(event.dataTransfer.files));
window.addEventListener("beforeunload", (event) => {
  if (unsettled) event.preventDefault(); // the browser asks whether to leave
});

clear.addEventListener("click", () => {
  for (const element of results.querySelectorAll(SETTLED)) {
    const photo = element.querySelector(".thumb img").src;
    if (photo.startsWith("blob:")) URL.revokeObjectURL(photo);
    element.remove(); // photos still uploading or waiting for a label stay
  }
  save();
  refresh();
  document.getElementById("file-input").focus(); // the button is gone
});
restore();

function addFiles(files) {
  const batch = document.createDocumentFragment();
  for (const file of files) {
    const card = createCard(file.name, file);
    batch.append(card.element);
    untilSettled(process(file, card));
  }
  results.prepend(batch); // the newest choice on top, in the order chosen
  refresh();
}

function untilSettled(work) {
  unsettled += 1;
  work.finally(() => {
    unsettled -= 1;
  });
}

function refresh() {
  document.getElementById("empty").hidden = results.children.length > 0;
  document.getElementById("results-bar").hidden = !results.querySelector(SETTLED); // nothing to clear
}

// The cards of the uploads this tab remembers, as they were; polling again for a label still missing.
function restore() {
  let entries;
  try {
    entries = JSON.parse(sessionStorage.getItem(STORE));
  } catch {
    return; // no storage, or not JSON
  }
  if (!Array.isArray(entries)) return;
  entries = entries.filter((entry) => typeof entry?.key === "string" && typeof entry.name === "string");
  // every card first: saving while only some are back would forget the others
  const cards = entries.map((entry) => {
    const card = createCard(entry.name);
    remembered.set(card.element, entry);
    results.append(card.element);
    return card;
  });
  cards.forEach((card, i) => {
    const entry = entries[i];
    if (entry.label) settle(card, entry.label);
    else if (entry.error) card.fail(entry.error, entry.detail);
    else untilSettled(follow(card, entry));
  });
  refresh();
}

function save() {
  const entries = [...results.children].map((element) => remembered.get(element)).filter(Boolean);
  try {
    sessionStorage.setItem(STORE, JSON.stringify(entries));
  } catch {
    // disabled or full: the page goes on, and forgets on reload
  }
}

// Only the upload itself takes a slot: a photo waiting for its label does not hold back the next upload.
function inUploadSlot(work) {
  return new Promise((resolve, reject) => {
    waiting.push(() =>
      work()
        .then(resolve, reject)
        .finally(() => {
          uploading -= 1;
          pump();
        }),
    );
    pump();
  });
}

function pump() {
  while (uploading < MAX_PARALLEL_UPLOADS && waiting.length) {
    uploading += 1;
    waiting.shift()();
  }
}

// A card for a file chosen now, or without the file for an upload remembered from before a reload.
function createCard(name, file) {
  const element = template.content.firstElementChild.cloneNode(true);
  const get = (selector) => element.querySelector(selector);
  get(".name").textContent = name;
  get(".name").title = name;
  get(".progress").setAttribute("aria-label", `Upload of ${name}`);
  const showType = () => {
    get(".thumb img").removeAttribute("src");
    get(".thumb-type").textContent = name.includes(".") ? name.split(".").pop().slice(0, 4) : "?";
  };
  // what the page remembers of an upload: its key and name, then its outcome
  const record = (outcome) => {
    const entry = remembered.get(element);
    if (!entry) return; // not uploaded: nothing to come back to
    remembered.set(element, { key: entry.key, name: entry.name, ...outcome });
    save();
  };
  if (file && file.type.startsWith("image/")) {
    get(".thumb img").addEventListener("error", showType); // not decodable: no broken-image icon
    get(".thumb img").src = URL.createObjectURL(file);
    get(".thumb img").alt = `Your photo ${name}`;
  } else {
    showType();
  }
  const card = {
    element,
    // The results list is a live region: only a new state is written, never each percent of an upload.
    status(text, state) {
      get(".status").textContent = text;
      element.dataset.state = state;
      refresh();
    },
    progress(fraction) {
      get(".progress").value = Math.round(fraction * 100);
    },
    fail(message, detail) {
      card.status(message, "error");
      if (detail) get(".status").title = detail;
      record({ error: message, detail });
    },
    show(label) {
      const percent = (p) => `${(p * 100).toFixed(1)}%`;
      element.dataset.label = label.label;
      // "neither": the model's check found no cat or dog in the photo
      const name = label.label === "neither" ? "neither cat nor dog" : label.label;
      get(".label-name").textContent = name[0].toUpperCase() + name.slice(1);
      get(".label-confidence").textContent = `${percent(label.confidence)} sure`;
      get(".bar").setAttribute("aria-label", `Confidence ${percent(label.confidence)}`);
      get(".bar span").style.width = percent(label.confidence);
      const score = label.pet_score === undefined ? [] : [`pet similarity ${label.pet_score.toFixed(2)}`];
      get(".probabilities").textContent = Object.entries(label.probabilities)
        .map(([name, p]) => `${name} ${percent(p)}`)
        .concat(score)
        .join(" · ");
      get(".probabilities").title = get(".probabilities").textContent; // a phone may cut the line short
      get(".verdict").hidden = false;
      const inference = label.timing_ms && label.timing_ms.inference;
      // two significant digits below 100 ms, whole milliseconds above (toPrecision(2) wrote 1.2e+2)
      const ms = inference ? ` in ${inference < 100 ? inference.toPrecision(2) : Math.round(inference)} ms` : "";
      card.status(`Labelled${ms} by model v${label.model.version}`, "done");
      get(".status").title = `${label.model.name} ${label.model.version} (sha256 ${label.model.sha256})`;
      record({ label });
    },
  };
  card.status("Waiting to upload…", "queued");
  return card;
}

async function process(file, card) {
  try {
    if (file.size === 0) throw new Error("The file is empty.");
    if (service.max_bytes && file.size > service.max_bytes) {
      throw new Error(`Too large: ${formatBytes(file.size)}, the limit is ${formatBytes(service.max_bytes)}.`);
    }
    const type = await contentType(file);
    const upload = await inUploadSlot(async () => {
      card.status("Uploading…", "uploading");
      const presigned = await presign(file, type);
      await postToS3(presigned, file, card);
      return presigned;
    });
    await follow(card, { key: upload.key, name: file.name, since: Date.now() });
  } catch (error) {
    card.fail(error.message);
  }
}

// Waits for the label of an uploaded photo, remembered from now on (`since`: when the wait began).
async function follow(card, entry) {
  remembered.set(card.element, entry);
  save();
  card.status("Classifying…", "classifying");
  try {
    settle(card, await pollLabel(entry.key, entry.since));
  } catch (error) {
    // a label that did not come in time may come later: shown as failed, remembered as pending, so a
    // reload asks once more
    if (error.pending) card.status(error.message, "error");
    else card.fail(error.message);
  }
}

function settle(card, label) {
  if (label.error) {
    card.fail(`Not classified: ${describeError(label.error)}`, `${label.error.code}: ${label.error.message}`);
  } else {
    card.show(label);
  }
}

async function contentType(file) {
  if (file.type) return file.type;
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const found = SIGNATURES.find(([, signature]) => signature.test(String.fromCharCode(...head)));
  return found ? found[0] : "application/octet-stream"; // the API then says it is not a photo
}

async function api(path, options) {
  const response = await fetch(path, options).catch(() => {
    throw new Error("The server could not be reached: check the connection and try again.");
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error ? body.error.message : `The server answered ${response.status}.`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// The API's throttle (20 requests/s, bursts of 50) is shared with the label polls, which a big batch of
// photos makes many: a throttled presign is asked again, as a throttled poll is, not shown as a failure.
async function presign(file, type) {
  const request = {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ filename: file.name, content_type: type }),
  };
  const started = Date.now();
  for (let delay = POLL_FIRST_MS; ; delay = Math.min(delay * 1.5, POLL_MAX_MS)) {
    try {
      return await api("api/uploads", request);
    } catch (error) {
      if (error.status !== 429 || Date.now() - started > PRESIGN_GIVE_UP_MS) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function postToS3(upload, file, card) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) card.progress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        card.progress(1);
        resolve();
      } else {
        reject(new Error(`Upload refused: ${s3Error(request.responseText) || `S3 answered ${request.status}`}`));
      }
    });
    request.addEventListener("error", () => reject(new Error("Upload failed: S3 could not be reached.")));
    request.send(form);
  });
}

function s3Error(xml) {
  const doc = new DOMParser().parseFromString(xml || "", "application/xml");
  const code = doc.querySelector("Code");
  const message = doc.querySelector("Message");
  if (code && code.textContent === "EntityTooLarge") return "the file is too large.";
  return message ? message.textContent : code && code.textContent;
}

async function pollTurn() {
  const now = Date.now();
  const at = Math.max(now, nextPoll);
  nextPoll = at + POLL_SPACING_MS;
  if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
}

// `started`: when the wait began, earlier than now for an upload resumed after a reload. The last thing
// before giving up is always a question: a phone that paused the page's timers past the deadline asks
// once more on waking, and finds the label written meanwhile.
async function pollLabel(key, started) {
  const path = `api/labels?key=${encodeURIComponent(key)}`;
  let delay = POLL_FIRST_MS;
  let trouble; // why the last poll got no label
  for (;;) {
    // a phone losing its network for a moment, throttling or a failing server: ask again later
    await pollTurn();
    const response = await fetch(path).catch(() => null);
    if (response && response.ok) return response.json();
    const status = response ? response.status : 0;
    if (status !== 0 && status !== 404 && status !== 429 && status < 500) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `The server answered ${status}.`);
    }
    if (status === 0) trouble = "the server could not be reached.";
    else if (status === 404) trouble = "is the classify function running?"; // not labelled yet
    else trouble = `the server answered ${status}.`;
    if (Date.now() - started >= POLL_GIVE_UP_MS) {
      throw Object.assign(new Error(`No label after 90 s: ${trouble}`), { pending: true });
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 1.5, POLL_MAX_MS);
  }
}

function describeError(error) {
  const plain = {
    invalid_image: "this file is not an image that can be read",
    empty: "the file is empty",
    too_large: "the file is too large",
    too_many_pixels: "the image has too many pixels",
    not_found: "the upload disappeared before it was read",
    encrypted: "the upload is encrypted with a key of its own and cannot be read",
  };
  return plain[error.code] ? `${plain[error.code]}.` : `${error.code}: ${error.message}`;
}

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
