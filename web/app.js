// The Likeness page: search by face, people, library. Plain modules, no
// framework and no build step; it talks only to the local server's JSON API
// (docs/api.md) and shows every API error with the API's own message.

const PEOPLE_PAGE_SIZE = 60;
const INDEX_POLL_MS = 500;
const CROP_SIZE = 160;
const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/bmp', 'image/webp'];
const ACCEPTED_EXTENSIONS = /\.(jpe?g|png|bmp|webp)$/i;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const session = { token: null, maxUploadBytes: 32 * 1024 * 1024, minFacePx: 30 };

// Every request that changes something carries the session token (the
// server refuses it otherwise); errors become ApiError with the server's
// message, which is written for the user.
async function api(method, path, body) {
  const headers = {};
  const init = { method, headers };
  if (method !== 'GET' && method !== 'HEAD') {
    if (!session.token) await loadSession();
    headers['X-Likeness-Token'] = session.token;
  }
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', 'The Likeness server does not answer. Is `likeness serve` still running?');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError(response.status, error ? error.code : 'http_' + response.status,
      error && error.message ? error.message : `The server answered ${response.status} ${response.statusText}.`);
  }
  return data;
}

async function loadSession() {
  const s = await api('GET', '/api/session');
  session.token = s.token;
  if (s.max_upload_bytes) session.maxUploadBytes = s.max_upload_bytes;
  if (s.min_face_px) session.minFacePx = s.min_face_px;
  showLibrarySummary(s.library);
  return s;
}

// ---------------------------------------------------------------- helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const percent = (value) => `${Math.round(value * 100)}%`;

// The file name with its folder: in a photo collection the folder (an event,
// a trip) says more than the bare name.
function shortPath(path) {
  const parts = String(path).split('/').filter(Boolean);
  return parts.slice(-2).join('/');
}

function personLabel(person) {
  return person.name || person.label || `Unnamed #${person.id}`;
}

let statusTimer = 0;
function announce(message) {
  const status = $('status');
  status.textContent = message;
  clearTimeout(statusTimer);
  if (message) statusTimer = setTimeout(() => { status.textContent = ''; }, 8000);
}

function showError(err) {
  const box = $('error');
  const message = err instanceof Error ? err.message : String(err);
  box.replaceChildren(el('span', { text: message }),
    el('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss the error', onclick: clearError }, 'Dismiss'));
  box.hidden = false;
}

function clearError() {
  const box = $('error');
  box.hidden = true;
  box.replaceChildren();
}

function showLibrarySummary(library) {
  if (!library) return;
  $('library-summary').textContent =
    `${library.photos} photos · ${library.faces} faces · ${library.people} people`;
  $('library-dir').textContent = library.dir ? `Library folder: ${library.dir}` : '';
}

async function refreshSummary() {
  try {
    const s = await api('GET', '/api/session');
    showLibrarySummary(s.library);
  } catch {
    // The summary is decoration; the action that called this reports its own errors.
  }
}

// Capture times are the camera's local time ("2019-07-01T10:22:03"): shown
// as written, never shifted by the browser's time zone.
function dateParts(captureTime) {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(captureTime || '');
  if (!match) return null;
  return { year: match[1], day: `${match[1]}-${match[2]}-${match[3]}`,
           date: new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3])) };
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'long', year: 'numeric' });

function cropImage(url, alt, size = CROP_SIZE) {
  const src = url.includes('?') ? url : `${url}?size=${size}`;
  return el('img', { src, alt, loading: 'lazy', decoding: 'async', width: size, height: size, class: 'crop' });
}

async function confirmAction(title, text, okLabel) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  dialog.returnValue = 'cancel';
  dialog.showModal();
  $('confirm-ok').focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

// ---------------------------------------------------------------- routing

const views = ['search', 'people', 'person', 'library'];
let currentRoute = null;

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, id] = hash.split('/');
  if (name === 'people' && id && /^\d+$/.test(id)) return { view: 'person', id: Number(id) };
  if (views.includes(name)) return { view: name };
  return { view: 'search' };
}

async function route() {
  const next = parseRoute();
  if (currentRoute && currentRoute.view === 'library' && next.view !== 'library') stopIndexPolling();
  currentRoute = next;
  clearError();
  announce('');
  for (const view of views) $(`view-${view}`).hidden = view !== next.view;
  const navName = next.view === 'person' ? 'people' : next.view;
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === navName) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = { search: 'Search', people: 'People', person: 'Person', library: 'Library' }[next.view] + ' · Likeness';
  try {
    if (next.view === 'people') await showPeople();
    else if (next.view === 'person') await showPerson(next.id);
    else if (next.view === 'library') await showLibrary();
  } catch (err) {
    showError(err);
  }
}

// ---------------------------------------------------------------- search

const search = { uploadId: null, faces: [], selected: null, objectUrl: null, sequence: 0 };

function acceptedFile(file) {
  return ACCEPTED_TYPES.includes(file.type) || ACCEPTED_EXTENSIONS.test(file.name);
}

async function handlePhoto(file) {
  clearError();
  $('search-help').hidden = true;
  $('results').hidden = true;
  if (!acceptedFile(file)) {
    showError(`“${file.name}” is not a JPEG, PNG, BMP or WEBP photo.`);
    return;
  }
  if (file.size > session.maxUploadBytes) {
    showError(`“${file.name}” is ${(file.size / 1048576).toFixed(1)} MB; the server accepts photos up to ${Math.round(session.maxUploadBytes / 1048576)} MB.`);
    return;
  }
  if (search.objectUrl) URL.revokeObjectURL(search.objectUrl);
  // The photo is shown from the browser's own copy; the server gets it only
  // to find the faces.
  search.objectUrl = URL.createObjectURL(file);
  search.uploadId = null;
  search.selected = null;  // the options must not re-run a face of the previous photo
  search.sequence++;  // nor may a search still running for it show its results
  search.faces = [];
  $('query-image').src = search.objectUrl;
  $('query-image').alt = `Your photo ${file.name}`;
  $('face-layer').replaceChildren();
  $('query-note').textContent = 'Looking for faces…';
  $('query').hidden = false;
  $('query').setAttribute('aria-busy', 'true');
  announce(`Looking for faces in ${file.name}…`);

  const form = new FormData();
  form.append('photo', file, file.name);
  let upload;
  try {
    upload = await api('POST', '/api/uploads', form);
  } catch (err) {
    $('query-note').textContent = '';
    showError(err);
    return;
  } finally {
    $('query').removeAttribute('aria-busy');
  }
  search.uploadId = upload.upload_id;
  search.faces = upload.faces || [];
  drawFaces(upload);
  if (search.faces.length === 0) {
    $('query-note').textContent = '';
    const help = $('search-help');
    help.textContent = upload.message ||
      `No face found. Use a clear, well-lit photo with a face at least ${session.minFacePx}x${session.minFacePx} pixels.`;
    help.hidden = false;
    announce(help.textContent);
    return;
  }
  const tooSmall = upload.too_small ? ` ${upload.too_small} more ${upload.too_small === 1 ? 'face is' : 'faces are'} too small to search.` : '';
  const n = search.faces.length;
  $('query-note').textContent = n === 1
    ? `1 face found. Select it to search the library.${tooSmall}`
    : `${n} faces found. Select one to search the library.${tooSmall}`;
  announce($('query-note').textContent);
  if (n === 1) $('face-layer').querySelector('button').focus();
}

// Boxes are positioned in percent of the photo's size, so they follow the
// photo at any displayed size (narrow window, zoom) without measuring it.
function drawFaces(upload) {
  const layer = $('face-layer');
  layer.replaceChildren();
  const { width, height } = upload;
  const faces = [...(upload.faces || [])].sort((a, b) => a.box.x - b.box.x);
  faces.forEach((face, order) => {
    const q = face.quality ? `, quality ${percent(face.quality.overall)}` : '';
    const lowQuality = face.searchable === false ? ', low quality' : '';
    const button = el('button', {
      type: 'button',
      class: 'face-box' + (face.searchable === false ? ' low-quality' : ''),
      'aria-label': `Search for face ${order + 1} of ${faces.length}${q}${lowQuality}`,
      'aria-pressed': 'false',
      dataset: { faceIndex: String(face.index) },
      onclick: () => searchFace(face),
    }, el('span', { class: 'face-number', 'aria-hidden': 'true' }, String(order + 1)));
    button.style.left = `${(face.box.x / width) * 100}%`;
    button.style.top = `${(face.box.y / height) * 100}%`;
    button.style.width = `${(face.box.w / width) * 100}%`;
    button.style.height = `${(face.box.h / height) * 100}%`;
    layer.append(button);
  });
}

function searchSettings() {
  const body = { upload_id: search.uploadId };
  const top = Number.parseInt($('opt-top').value, 10);
  if (Number.isFinite(top)) body.top = Math.min(200, Math.max(1, top));
  const threshold = $('opt-threshold').value.trim();
  if (threshold !== '') body.threshold = Math.min(1, Math.max(0, Number(threshold) / 100));
  body.include_low_quality = $('opt-low-quality').checked;
  return body;
}

async function searchFace(face) {
  if (!search.uploadId) return;
  clearError();
  search.selected = face;
  for (const button of $('face-layer').querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.faceIndex) === face.index));
  }
  const body = { ...searchSettings(), face: face.index };
  // Settings can change while a search runs; only the latest one is shown.
  const sequence = ++search.sequence;
  $('results').setAttribute('aria-busy', 'true');
  announce('Searching the library…');
  let found;
  try {
    found = await api('POST', '/api/search', body);
  } catch (err) {
    if (sequence !== search.sequence) return;
    $('results').removeAttribute('aria-busy');
    showError(err);
    return;
  }
  if (sequence !== search.sequence) return;
  $('results').removeAttribute('aria-busy');
  renderResults(found, face);
}

function renderResults(found, face) {
  const grid = $('result-grid');
  const results = found.results || [];
  const q = face.quality ? ` Your face's quality: ${percent(face.quality.overall)}.` : '';
  $('results-meta').textContent = results.length
    ? `${results.length} ${results.length === 1 ? 'match' : 'matches'} above ${percent(found.threshold)} probability, best first.${q}`
    : `No face in the library matches above ${percent(found.threshold)} probability.${q} Lower the minimum probability to see weaker candidates.`;
  grid.replaceChildren(...results.map((hit, rank) => resultCard(hit, rank)));
  $('results').hidden = false;
  announce(results.length ? `${results.length} matches found.` : 'No match found.');
}

function resultCard(hit, rank) {
  const where = shortPath(hit.path);
  const date = dateParts(hit.capture_time);
  return el('li', { class: 'card result-card', dataset: { faceId: String(hit.face_id), rank: String(rank + 1) } },
    el('button', { type: 'button', class: 'card-image', 'aria-label': `Details of match ${rank + 1}, ${where}`,
                   onclick: () => openFaceDialog(hit.face_id) },
       cropImage(hit.face_url, '')),
    el('div', { class: 'card-body' },
      el('p', { class: 'probability' + (hit.same_person ? ' same' : '') },
         el('strong', {}, percent(hit.probability)), hit.same_person ? ' same person' : ' possible'),
      hit.person ? el('p', {}, el('a', { href: `#/people/${hit.person.id}` }, personLabel(hit.person))) : null,
      el('p', { class: 'path', title: hit.path, dataset: { path: hit.path } }, where),
      el('p', { class: 'muted' }, `Quality ${percent(hit.quality.overall)}`,
         date ? ` · ${dayFormat.format(date.date)}` : ''),
      el('p', {}, el('a', { href: hit.photo_url, target: '_blank', rel: 'noopener' }, 'Open photo'))));
}

function setUpSearch() {
  const input = $('photo-input');
  input.addEventListener('change', () => {
    if (input.files && input.files[0]) handlePhoto(input.files[0]);
    input.value = '';  // choosing the same file again must upload again
  });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('dragging');
    const file = event.dataTransfer.files && event.dataTransfer.files[0];
    if (file) handlePhoto(file);
  });
  // A drop outside the zone would make the browser navigate to the file and
  // lose the page.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());
  $('search-options').addEventListener('submit', (event) => {
    event.preventDefault();
    if (search.selected) searchFace(search.selected);
  });
  // Changing a control re-runs the current search so that the grid always
  // matches the settings shown.
  for (const id of ['opt-top', 'opt-threshold', 'opt-low-quality']) {
    $(id).addEventListener('change', () => { if (search.selected && search.uploadId) searchFace(search.selected); });
  }
}

// ---------------------------------------------------------------- people

const people = { offset: 0, total: 0, query: '', loading: false, renderedOnce: false };

async function showPeople() {
  people.offset = 0;
  people.query = $('people-q').value.trim();
  $('people-grid').replaceChildren();
  await loadPeoplePage();
}

async function loadPeoplePage() {
  if (people.loading) return;
  people.loading = true;
  $('people-more').disabled = true;
  const grid = $('people-grid');
  grid.setAttribute('aria-busy', 'true');
  try {
    const params = new URLSearchParams({ offset: String(people.offset), limit: String(PEOPLE_PAGE_SIZE) });
    if (people.query) params.set('q', people.query);
    const page = await api('GET', `/api/people?${params}`);
    people.total = page.total;
    const cards = page.people.map(personCard);
    grid.append(...cards);
    people.offset += page.people.length;
    const shown = grid.children.length;
    $('people-count').textContent = people.query
      ? `${page.total} ${page.total === 1 ? 'person' : 'people'} named like “${people.query}”`
      : `${page.total} ${page.total === 1 ? 'person' : 'people'}, most photographed first`;
    $('people-empty').hidden = page.total !== 0 || Boolean(people.query);
    $('people-more').hidden = shown >= page.total || page.people.length === 0;
    if (shown < page.total) $('people-more').textContent = `Show more people (${page.total - shown} left)`;
    markPeopleRendered();
  } finally {
    people.loading = false;
    $('people-more').disabled = false;
    grid.removeAttribute('aria-busy');
  }
}

// A marker for the page-load benchmark (tests/browser): time from navigation
// start to the first page of people cards in the DOM.
function markPeopleRendered() {
  if (people.renderedOnce) return;
  people.renderedOnce = true;
  performance.mark('likeness:people-rendered');
  document.documentElement.dataset.peopleRenderedMs = performance.now().toFixed(1);
}

function personCard(person) {
  const label = personLabel(person);
  const faces = `${person.faces} ${person.faces === 1 ? 'face' : 'faces'}`;
  const photos = person.photos !== undefined ? ` in ${person.photos} ${person.photos === 1 ? 'photo' : 'photos'}` : '';
  return el('li', { class: 'card person-card', dataset: { personId: String(person.id) } },
    el('a', { href: `#/people/${person.id}`, class: 'card-link' },
      person.cover_face_id ? cropImage(`/api/faces/${person.cover_face_id}/crop`, '') : el('span', { class: 'crop placeholder' }),
      el('span', { class: 'card-body' },
        el('span', { class: 'person-name' + (person.name ? '' : ' unnamed') }, label),
        el('span', { class: 'muted face-count' }, faces + photos))));
}

function setUpPeople() {
  $('people-more').addEventListener('click', () => loadPeoplePage().catch(showError));
  $('people-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    showPeople().catch(showError);
  });
}

// ---------------------------------------------------------------- person

let shownPerson = null;

async function showPerson(id) {
  $('timeline').replaceChildren();
  $('person-title').textContent = 'Loading…';
  $('person-meta').textContent = '';
  const person = await api('GET', `/api/people/${id}`);
  renderPerson(person);
  loadMergeChoices(person).catch(showError);
}

function renderPerson(person) {
  shownPerson = person;
  const label = personLabel(person);
  $('person-title').textContent = label;
  $('rename-input').value = person.name || '';
  const faces = person.faces || [];
  const photos = new Set(faces.map((f) => f.photo_id)).size;
  $('person-meta').textContent = `${faces.length} ${faces.length === 1 ? 'face' : 'faces'} in ${photos} ${photos === 1 ? 'photo' : 'photos'}`;
  const cover = $('person-cover');
  if (faces.length) {
    cover.src = `${faces[0].face_url}?size=${CROP_SIZE}`;
    cover.hidden = false;
  } else {
    cover.hidden = true;
    cover.removeAttribute('src');
  }
  renderTimeline(faces);
}

// The timeline: years, then days, newest first; photos without a date last.
function renderTimeline(faces) {
  const years = new Map();
  const undated = [];
  for (const face of faces) {
    const parts = dateParts(face.capture_time);
    if (!parts) { undated.push(face); continue; }
    if (!years.has(parts.year)) years.set(parts.year, new Map());
    const days = years.get(parts.year);
    if (!days.has(parts.day)) days.set(parts.day, { date: parts.date, faces: [] });
    days.get(parts.day).faces.push(face);
  }
  const sections = [];
  for (const year of [...years.keys()].sort().reverse()) {
    const days = years.get(year);
    const daySections = [...days.keys()].sort().reverse().map((day) => {
      const group = days.get(day);
      return el('section', { class: 'day', dataset: { day } },
        el('h3', {}, el('time', { datetime: day }, dayFormat.format(group.date))),
        el('ul', { class: 'card-grid' }, group.faces.map(timelineCard)));
    });
    sections.push(el('section', { class: 'year', dataset: { year } }, el('h2', {}, year), daySections));
  }
  if (undated.length) {
    sections.push(el('section', { class: 'year undated', dataset: { year: 'none' } },
      el('h2', {}, 'Without a date'),
      el('ul', { class: 'card-grid' }, undated.map(timelineCard))));
  }
  if (!sections.length) sections.push(el('p', { class: 'empty' }, 'This person has no faces left.'));
  $('timeline').replaceChildren(...sections);
}

function timelineCard(face) {
  const where = shortPath(face.path);
  return el('li', { class: 'card face-card', dataset: { faceId: String(face.face_id) } },
    el('button', { type: 'button', class: 'card-image', 'aria-label': `Details of the face in ${where}`,
                   onclick: () => openFaceDialog(face.face_id) },
       cropImage(face.face_url, '')),
    el('div', { class: 'card-body' },
      el('p', { class: 'path', title: face.path }, where),
      el('p', { class: 'muted' }, `Quality ${percent(face.quality.overall)}`,
         face.origin === 'confirmed' ? ' · confirmed' : ''),
      el('div', { class: 'card-actions' },
        el('a', { href: face.photo_url, target: '_blank', rel: 'noopener' }, 'Photo'),
        el('button', { type: 'button', class: 'reject', 'aria-label': `Not ${personLabel(shownPerson)}: remove the face in ${where}`,
                       onclick: (event) => rejectFace(face, event.currentTarget) }, 'Not this person'))));
}

async function rejectFace(face, button) {
  const person = shownPerson;
  button.disabled = true;
  try {
    await api('POST', `/api/people/${person.id}/reject`, { face_id: face.face_id });
  } catch (err) {
    button.disabled = false;
    showError(err);
    return;
  }
  announce(`The face in ${shortPath(face.path)} is no longer ${personLabel(person)}.`);
  const updated = await api('GET', `/api/people/${person.id}`);
  renderPerson(updated);
  // The pressed button is gone with its card: keep the keyboard user on this page.
  $('person-title').focus();
}

// Everyone can be merged into this person; the list is read in the largest
// pages the server allows (500 people), up to MERGE_CHOICES_MAX people.
const MERGE_PAGE_SIZE = 500;
const MERGE_CHOICES_MAX = 5000;

async function loadMergeChoices(person) {
  const everyone = [];
  let total = Infinity;
  while (everyone.length < Math.min(total, MERGE_CHOICES_MAX)) {
    const page = await api('GET', `/api/people?offset=${everyone.length}&limit=${MERGE_PAGE_SIZE}`);
    total = page.total;
    if (!page.people.length) break;
    everyone.push(...page.people);
  }
  if (shownPerson && shownPerson.id !== person.id) return;  // the user moved on
  const select = $('merge-select');
  select.replaceChildren(el('option', { value: '' }, 'Choose a person…'),
    ...everyone.filter((p) => p.id !== person.id).map((p) =>
      el('option', { value: String(p.id) }, `${personLabel(p)} (${p.faces} ${p.faces === 1 ? 'face' : 'faces'})`)));
}

// The export is a ZIP answered to a POST (it needs the session token), so it
// is fetched as a blob and handed to the browser as a download.
async function exportPerson(person) {
  if (!person) return;
  if (!session.token) await loadSession();
  const response = await fetch(`/api/people/${person.id}/export`, {
    method: 'POST', headers: { 'X-Likeness-Token': session.token },
  });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    const error = data && data.error;
    throw new ApiError(response.status, error ? error.code : 'http_' + response.status,
      error && error.message ? error.message : `The server answered ${response.status}.`);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: `likeness-person-${person.id}.zip`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  announce(`Exported everything stored about ${personLabel(person)}.`);
}

// Erasure cannot be undone: the user confirms in the dialog, and the server
// wants that confirmation in the request too.
async function erasePerson(person) {
  if (!person) return;
  const ok = await confirmAction('Erase this person for good?',
    `${personLabel(person)} and their ${person.faces.length} faces are erased from the library — ` +
    'vectors, attributes and links, with no copy left. The photo files stay where they are; if ' +
    'they are indexed again, the faces come back. This cannot be undone.', 'Erase');
  if (!ok) return;
  const report = await api('POST', `/api/people/${person.id}/erase`, { confirm: true });
  announce(`Erased ${personLabel(person)}: ${report.faces} faces.`);
  refreshSummary();
  location.hash = '#/people';
}

function setUpPerson() {
  $('export-button').addEventListener('click', () => exportPerson(shownPerson).catch(showError));
  $('erase-button').addEventListener('click', () => erasePerson(shownPerson).catch(showError));
  $('rename-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const person = shownPerson;
    if (!person) return;
    const name = $('rename-input').value.trim();
    try {
      const updated = await api('PATCH', `/api/people/${person.id}`, { name });
      renderPerson(updated);
      announce(name ? `Renamed to ${name}.` : 'The name was removed.');
    } catch (err) {
      showError(err);
    }
  });
  $('merge-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const person = shownPerson;
    const select = $('merge-select');
    if (!person || !select.value) return;
    const otherLabel = select.selectedOptions[0].textContent;
    const ok = await confirmAction('Merge two people?',
      `All faces of ${otherLabel} move to ${personLabel(person)}, and ${otherLabel} is removed.`, 'Merge');
    if (!ok) return;
    try {
      const updated = await api('POST', `/api/people/${person.id}/merge`, { other: Number(select.value) });
      renderPerson(updated);
      await loadMergeChoices(updated);
      announce(`Merged ${otherLabel} into ${personLabel(updated)}.`);
      refreshSummary();
    } catch (err) {
      showError(err);
    }
  });
}

// ---------------------------------------------------------------- face details

const QUALITY_ROWS = [
  ['overall', 'Overall'], ['sharpness', 'Sharpness'], ['contrast', 'Contrast'],
  ['size', 'Size'], ['pose', 'Pose'], ['exposure', 'Exposure'],
];

function qualityTable(quality) {
  const rows = QUALITY_ROWS.filter(([key]) => typeof quality[key] === 'number').map(([key, label]) =>
    el('tr', {}, el('th', { scope: 'row' }, label),
      el('td', {}, el('meter', { min: 0, max: 1, low: 0.3, high: 0.7, optimum: 1, value: quality[key], 'aria-hidden': 'true' }),
        ' ', percent(quality[key]))));
  for (const [key, label] of [['yaw', 'Yaw'], ['pitch', 'Pitch'], ['roll', 'Roll']]) {
    if (typeof quality[key] === 'number') {
      rows.push(el('tr', {}, el('th', { scope: 'row' }, label), el('td', {}, `${quality[key].toFixed(1)}°`)));
    }
  }
  return el('table', { class: 'measures' }, el('caption', {}, 'Quality'), el('tbody', {}, rows));
}

function attributeValue(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// Rows for the attributes the attribute models store (src/likeness/attributes:
// age with a range, gender and expression with probabilities, the models
// used); keys the page does not know are shown as they are.
function attributeRows(attributes) {
  const rows = [];
  const row = (label, ...value) => rows.push(el('tr', {}, el('th', { scope: 'row' }, label), el('td', {}, ...value)));
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'model') continue;
    if (key === 'age' && value && typeof value.years === 'number') {
      const range = typeof value.low === 'number' && typeof value.high === 'number' ? ` (likely ${Math.round(value.low)}–${Math.round(value.high)})` : '';
      row('Age', `about ${Math.round(value.years)} years${range}`);
    } else if ((key === 'gender' || key === 'emotion') && value && typeof value.label === 'string') {
      const p = typeof value.probability === 'number' ? ` (${percent(value.probability)})` : '';
      const rest = value.probabilities && typeof value.probabilities === 'object'
        ? el('small', {}, Object.entries(value.probabilities).sort((a, b) => b[1] - a[1])
          .map(([label, q]) => `${label} ${percent(q)}`).join(', '))
        : null;
      row(key === 'gender' ? 'Gender' : 'Expression', value.label + p, rest);
    } else {
      row(key.replace(/_/g, ' '), attributeValue(value));
    }
  }
  if (attributes.model && typeof attributes.model === 'object') {
    row('Estimated by', Object.entries(attributes.model).map(([what, model]) => `${what}: ${model}`).join(', '));
  }
  return rows;
}

let dialogReturnFocus = null;

async function openFaceDialog(faceId) {
  clearError();
  let face;
  try {
    face = await api('GET', `/api/faces/${faceId}`);
  } catch (err) {
    showError(err);
    return;
  }
  const attributes = Object.entries(face.attributes || {});
  const people = (face.people || []).filter((p) => p.origin !== 'rejected');
  $('face-dialog-title').textContent = `Face in ${shortPath(face.path)}`;
  $('face-dialog-body').replaceChildren(
    el('div', { class: 'face-detail' },
      el('img', { src: `/api/faces/${face.id}/crop?size=256`, alt: `The face in ${shortPath(face.path)}`, width: 256, height: 256, class: 'crop large' }),
      el('div', {},
        el('p', { class: 'path', title: face.path }, face.path),
        el('p', {}, `Detector score ${percent(face.score)}`, face.searchable === false ? ' · too low quality to search' : ''),
        people.length
          ? el('p', {}, 'Person: ', people.map((p, i) => [i ? ', ' : '', el('a', { href: `#/people/${p.id}`, onclick: closeFaceDialog }, personLabel(p))]))
          : el('p', { class: 'muted' }, 'Not in any person yet.'),
        el('p', {}, el('a', { href: `/api/photos/${face.photo_id}/image`, target: '_blank', rel: 'noopener' }, 'Open the photo')))),
    qualityTable(face.quality || {}),
    attributes.length
      ? el('table', { class: 'measures attributes' }, el('caption', {}, 'Attributes (estimates)'),
          el('tbody', {}, attributeRows(face.attributes)))
      : el('p', { class: 'muted' }, 'No attributes stored for this face.'));
  dialogReturnFocus = document.activeElement;
  $('face-dialog').showModal();
  $('face-dialog-close').focus();
}

function closeFaceDialog() {
  const dialog = $('face-dialog');
  if (dialog.open) dialog.close();
}

function setUpDialogs() {
  $('face-dialog-close').addEventListener('click', closeFaceDialog);
  // Escape closes a modal <dialog> natively; focus goes back where it was.
  $('face-dialog').addEventListener('close', () => {
    if (dialogReturnFocus && document.contains(dialogReturnFocus)) dialogReturnFocus.focus();
    dialogReturnFocus = null;
  });
  // A click on the backdrop (outside the dialog's box) closes it too.
  $('face-dialog').addEventListener('click', (event) => {
    if (event.target === $('face-dialog')) closeFaceDialog();
  });
}

// ---------------------------------------------------------------- library

let indexPollTimer = 0;
let lastIndexState = null;

async function showLibrary() {
  refreshSummary();
  const run = await api('GET', '/api/index');
  renderIndexRun(run);
  if (run.state === 'running' || run.state === 'stopping') scheduleIndexPoll();
}

function stopIndexPolling() {
  clearTimeout(indexPollTimer);
  indexPollTimer = 0;
}

function scheduleIndexPoll() {
  stopIndexPolling();
  indexPollTimer = setTimeout(pollIndex, INDEX_POLL_MS);
}

async function pollIndex() {
  indexPollTimer = 0;
  let run;
  try {
    run = await api('GET', '/api/index');
  } catch (err) {
    showError(err);
    return;
  }
  renderIndexRun(run);
  if (run.state === 'running' || run.state === 'stopping') {
    scheduleIndexPoll();
  } else {
    refreshSummary();
  }
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function renderIndexRun(run) {
  const section = $('index-run');
  const running = run.state === 'running' || run.state === 'stopping';
  $('index-start').disabled = running;
  $('index-stop').hidden = run.state !== 'running';
  $('cluster-button').hidden = !(run.state === 'done' || run.state === 'idle');
  if (run.state === 'idle') {
    section.hidden = false;
    $('index-run-title').textContent = 'Indexing';
    $('index-state').textContent = 'No folder was indexed since the server started.';
    $('index-progress').hidden = true;
    $('index-stats').replaceChildren();
    $('index-errors').replaceChildren();
    lastIndexState = run.state;
    return;
  }
  section.hidden = false;
  $('index-progress').hidden = false;
  const total = run.photos_total || 0;
  const done = run.photos_done || 0;
  const progress = $('index-progress');
  if (total > 0) {
    progress.max = total;
    progress.value = done;
  } else if (running) {
    progress.removeAttribute('value');  // indeterminate while the folder is walked
  } else {
    progress.max = 1;
    progress.value = 1;
  }
  const stateText = {
    running: `Indexing ${run.folder}…`,
    stopping: 'Stopping after the photos in progress…',
    done: `Finished indexing ${run.folder}.`,
    failed: `Indexing ${run.folder} failed: ${run.message || 'no reason given'}`,
  }[run.state] || run.state;
  $('index-state').textContent = stateText;
  $('index-state').className = run.state === 'failed' ? 'error-text' : '';
  const errorCount = Object.values(run.errors || {}).reduce((a, b) => a + b, 0);
  const stats = [
    ['Photos', total ? `${done} of ${total}` : String(done)],
    ['Faces', String(run.faces ?? 0)],
    ['Speed', run.photos_per_second ? `${run.photos_per_second.toFixed(1)} photos/s` : '—'],
    ['Time left', running ? formatDuration(run.eta_seconds) : '—'],
    ['Errors', String(errorCount)],
  ];
  $('index-stats').replaceChildren(...stats.map(([term, value]) => el('div', {}, el('dt', {}, term), el('dd', {}, value))));
  const errors = [];
  const kinds = Object.entries(run.errors || {});
  if (kinds.length) {
    errors.push(el('p', {}, 'Photos that could not be read: ',
      kinds.map(([kind, n], i) => `${i ? ', ' : ''}${n} ${kind.replace(/_/g, ' ')}`).join('')));
  }
  if (run.recent_errors && run.recent_errors.length) {
    errors.push(el('ul', { class: 'error-list' }, run.recent_errors.map((e) =>
      el('li', {}, el('span', { class: 'path' }, e.path), ': ', e.message || e.reason))));
  }
  $('index-errors').replaceChildren(...errors);
  // Announce state changes only: a progress bar polled twice a second would
  // flood a screen reader.
  if (run.state !== lastIndexState) {
    announce(stateText);
    if (run.state === 'done' && lastIndexState === 'running') {
      const joined = run.summary && run.summary.faces_joined_people;
      $('cluster-result').textContent = joined !== undefined
        ? `${joined} new ${joined === 1 ? 'face' : 'faces'} joined known people. Group the faces into people to sort the rest.`
        : 'Group the faces into people to see who is in the new photos.';
    }
  }
  lastIndexState = run.state;
}

function setUpLibrary() {
  $('index-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError();
    const folder = $('index-folder').value.trim();
    if (!folder) return;
    $('cluster-result').textContent = '';
    try {
      const run = await api('POST', '/api/index', { folder, prune: $('index-prune').checked });
      lastIndexState = null;
      renderIndexRun(run);
      scheduleIndexPoll();
    } catch (err) {
      showError(err);
    }
  });
  $('index-stop').addEventListener('click', async () => {
    try {
      renderIndexRun(await api('POST', '/api/index/stop'));
      scheduleIndexPoll();
    } catch (err) {
      showError(err);
    }
  });
  $('cluster-button').addEventListener('click', async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    $('cluster-result').textContent = 'Grouping faces into people…';
    try {
      const result = await api('POST', '/api/people/cluster');
      const text = `${result.faces_clustered} faces grouped into ${result.people} people.`;
      $('cluster-result').replaceChildren(text, ' ', el('a', { href: '#/people' }, 'See the people'));
      announce(text);
      refreshSummary();
    } catch (err) {
      $('cluster-result').textContent = '';
      showError(err);
    } finally {
      button.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- start

async function start() {
  setUpSearch();
  setUpPeople();
  setUpPerson();
  setUpDialogs();
  setUpLibrary();
  window.addEventListener('hashchange', route);
  // The session (token, counts) and the first view load side by side: the
  // view's GETs need no token, and a first render waiting for two round trips
  // in a row would be slower on a big library.
  const sessionLoaded = loadSession().catch(showError);
  await route();
  await sessionLoaded;
  document.documentElement.dataset.ready = 'true';
}

start();
