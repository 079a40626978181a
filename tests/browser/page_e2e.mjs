// The web page end to end in Debian's Chromium against the real server, on a
// library of five_celeb's train photos:
//   search by a val photo (the right person first), result controls, face
//   details and Escape, keyboard-only search, a photo without a face (the
//   help message; chosen and dropped), an API error shown with its message,
//   rename / merge / reject on the people pages and each change still there
//   after a reload, indexing a folder from the Library view with live
//   progress and grouping into people, a 400 px window without horizontal
//   overflow. Any console error or warning, page error, failed request or
//   request outside the local server fails the test. Screenshots go to
//   --artifacts.
//
//   node tests/browser/page_e2e.mjs --likeness build/likeness --source-dir . \
//     --datasets ../shared/datasets --artifacts build/artifacts/browser
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  artifactWriter, assert, guardConsole, launchBrowser, loadPlaywright, parseArgs, run, skip,
  startServer, step, tempDir,
} from './harness.mjs';

const args = parseArgs({ likeness: undefined, source_dir: undefined, datasets: undefined, artifacts: undefined });
const celeb = path.join(args.datasets, 'five_celeb');
if (!fs.existsSync(path.join(celeb, 'labels.csv'))) skip(`${celeb} is absent (needs ../shared/datasets)`);
const playwright = await loadPlaywright();
try {
  await run(args.likeness, ['models'], { timeoutMs: 60000 });
} catch {
  skip('models not installed (scripts/setup.sh models)');
}

// The help message docs/api.md specifies for a photo without a face.
const NO_FACE_MESSAGE = 'No face found. Use a clear, well-lit photo with a face at least 30x30 pixels.';
// Query photos: val photos whose identity the CLI's search also puts first
// (tests/cli/library_five_celeb.sh); the page must show the same person.
const QUERY_WIDE = { identity: 'ben_afflek', file: 'val_1.jpg' };
const QUERY_NARROW = { identity: 'madonna', file: 'val_1.jpg' };

const work = tempDir('likeness-browser-');
const library = path.join(work, 'library');
const screenshot = artifactWriter(args.artifacts);

// The split as folders of symlinks: work/train/<identity>/..., work/val/...
// (labels.csv has CRLF line ends), as the CLI test builds it.
function linkSplit() {
  const lines = fs.readFileSync(path.join(celeb, 'labels.csv'), 'utf8').split(/\r?\n/).slice(1).filter(Boolean);
  const counts = { train: 0, val: 0 };
  for (const line of lines) {
    const [file, identity, split] = line.split(',');
    fs.mkdirSync(path.join(work, split, identity), { recursive: true });
    fs.symlinkSync(path.resolve(celeb, file), path.join(work, split, file));
    counts[split] = (counts[split] || 0) + 1;
  }
  return counts;
}

// A plain 320x240 PNG (a soft gradient, no face), written by hand so the test
// needs no image library.
function plainPng(width = 320, height = 240) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buffer) => {
    let c = 0xffffffff;
    for (const byte of buffer) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;  // bit depth
  header[9] = 2;  // RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      rows[row + 1 + x * 3] = 90 + Math.round((100 * x) / width);
      rows[row + 2 + x * 3] = 140;
      rows[row + 3 + x * 3] = 170 + Math.round((60 * y) / height);
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

// The page's API calls, from inside the page (same origin, same token) for
// checks the UI does not show in one place.
const apiGet = (page, url) => page.evaluate(async (u) => (await fetch(u)).json(), url);

async function noHorizontalOverflow(page, where) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
  }));
  assert(scrollWidth <= clientWidth, `${where}: the page is ${scrollWidth} px wide in a ${clientWidth} px window`);
}

// Uploads a photo and waits for the page to draw its faces (or the help).
async function upload(page, file) {
  const response = page.waitForResponse((r) => r.url().endsWith('/api/uploads') && r.request().method() === 'POST');
  await page.setInputFiles('#photo-input', file);
  const answer = await (await response).json();
  if (answer.faces.length) await page.locator('#face-layer .face-box').first().waitFor();
  else await page.locator('#search-help').waitFor();
  return answer;
}

// Clicks the largest face's box and returns the first result's path.
async function searchLargestFace(page) {
  const boxes = page.locator('#face-layer .face-box');
  const count = await boxes.count();
  let largest = 0;
  let largestArea = -1;
  for (let i = 0; i < count; i++) {
    const b = await boxes.nth(i).boundingBox();
    if (b.width * b.height > largestArea) { largestArea = b.width * b.height; largest = i; }
  }
  const response = page.waitForResponse((r) => r.url().endsWith('/api/search'));
  await boxes.nth(largest).click();
  const found = await (await response).json();
  await page.locator('#results:not([hidden])').waitFor();
  return found;
}

async function firstResultIdentity(page) {
  const first = page.locator('#result-grid .result-card').first();
  await first.waitFor();
  const full = await first.locator('.path').getAttribute('data-path');
  return { path: full, identity: path.basename(path.dirname(full)) };
}

let server;
let browser;
let failed = false;
try {
  await step('index the five_celeb train photos and group them into people', async () => {
    const counts = linkSplit();
    assert(counts.train > 0 && counts.val > 0, `labels.csv lists train and val photos (${JSON.stringify(counts)})`);
    await run(args.likeness, ['index', '--library', library, path.join(work, 'train')]);
    await run(args.likeness, ['people', 'cluster', '--library', library]);
  });

  server = await step('start likeness serve --port 0', () => startServer(args.likeness, library));
  console.log(`server: ${server.url}`);
  browser = await launchBrowser(playwright);
  const page = browser.context.pages()[0] || await browser.context.newPage();
  const guard = guardConsole(page, server.url);

  await step('open the page', async () => {
    await page.goto(`${server.url}/#/search`);
    await page.locator('html[data-ready="true"]').waitFor();
    const summary = await page.locator('#library-summary').textContent();
    assert(/\d+ photos · \d+ faces · \d+ people/.test(summary), `the header shows the library's counts ("${summary}")`);
    // The page is compiled into the binary: a binary built before the last
    // edit of web/ would test an old page.
    for (const file of ['index.html', 'app.js', 'style.css']) {
      const served = await page.evaluate(async (u) => (await fetch(u)).text(), `/${file === 'index.html' ? '' : file}`);
      const source = fs.readFileSync(path.join(args.source_dir, 'web', file), 'utf8');
      assert(served === source, `the server serves web/${file} of ${args.source_dir} (rebuild likeness after editing web/)`);
    }
    guard.check('open');
  });

  await step(`search with ${QUERY_WIDE.identity}/${QUERY_WIDE.file}: the right person first`, async () => {
    const answer = await upload(page, path.join(work, 'val', QUERY_WIDE.identity, QUERY_WIDE.file));
    assert(answer.faces.length >= 1, 'the val photo has a face');
    assert(await page.locator('#face-layer .face-box').count() === answer.faces.length, 'one button per detected face');
    const found = await searchLargestFace(page);
    assert(found.results.length >= 1, 'the search finds the person');
    const first = await firstResultIdentity(page);
    assert(first.identity === QUERY_WIDE.identity,
      `the first result is a ${QUERY_WIDE.identity} photo, not ${first.path}`);
    const shown = await page.locator('#result-grid .result-card').count();
    assert(shown === found.results.length, `every result is shown (${shown} of ${found.results.length})`);
    const probability = await page.locator('#result-grid .result-card .probability strong').first().textContent();
    assert(probability === `${Math.round(found.results[0].probability * 100)}%`, `the probability is shown as a percentage (${probability})`);
    await screenshot(page, 'search-results', { fullPage: true });
    guard.check('search');
  });

  await step('max results and threshold controls re-run the search', async () => {
    // A search request whose body satisfies `wanted`; leaving a changed field
    // also fires its change event, so other searches may run in between.
    const searchWith = (wanted) => page.waitForResponse((r) => r.url().endsWith('/api/search') && wanted(JSON.parse(r.request().postData())));
    let response = searchWith((body) => body.top === 2);
    await page.fill('#opt-top', '2');
    await page.locator('#opt-top').press('Tab');
    const shownCards = (answer) => page.waitForFunction((n) => document.querySelectorAll('#result-grid .result-card').length === n, answer.results.length);
    const top2 = await (await response).json();
    assert(top2.results.length >= 1 && top2.results.length <= 2, `at most 2 results (${top2.results.length})`);
    await shownCards(top2);
    response = searchWith((body) => body.threshold !== undefined);
    await page.fill('#opt-threshold', '99');
    await page.locator('#opt-threshold').press('Tab');
    const strict = await response;
    const sent = JSON.parse(strict.request().postData()).threshold;
    assert(Math.abs(sent - 0.99) < 1e-9, `the threshold is sent as a probability (${sent})`);
    for (const hit of (await strict.json()).results) assert(hit.probability > 0.99, `results above the threshold (${hit.probability})`);
    // Back to the defaults for the rest of the test.
    response = searchWith((body) => body.top === 20 && body.threshold === undefined);
    await page.fill('#opt-top', '20');
    await page.fill('#opt-threshold', '');
    await page.locator('#opt-threshold').press('Tab');
    await shownCards(await (await response).json());
    guard.check('controls');
  });

  await step('face details dialog: quality and attributes, Escape closes it', async () => {
    await page.locator('#result-grid .result-card .card-image').first().click();
    const dialog = page.locator('#face-dialog');
    await dialog.locator('table.measures').first().waitFor();
    assert(await dialog.evaluate((d) => d.open), 'the dialog is open');
    const text = await dialog.textContent();
    assert(/Overall/.test(text) && /Sharpness/.test(text) && /Yaw/.test(text), 'the dialog lists the quality measures');
    assert(/Attributes|No attributes stored/.test(text), 'the dialog shows the attributes or says there are none');
    await screenshot(page, 'face-details');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.getElementById('face-dialog').open);
    guard.check('dialog');
  });

  await step('keyboard only: Tab to a face button, Enter searches', async () => {
    await page.locator('#result-grid').evaluate((grid) => grid.replaceChildren());
    // Start where a keyboard user starts after loading the page: the first
    // focusable element (the skip link).
    await page.locator('.skip-link').focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.classList.contains('face-box') ?? false);
    }
    assert(reached, 'a face button is reachable with Tab within 40 presses');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(outline !== 'none', 'the focused face button shows a visible focus outline');
    const response = page.waitForResponse((r) => r.url().endsWith('/api/search'));
    await page.keyboard.press('Enter');
    await response;
    await page.locator('#result-grid .result-card').first().waitFor();
    const first = await firstResultIdentity(page);
    assert(first.identity === QUERY_WIDE.identity, `Enter ran the same search (${first.path})`);
    await screenshot(page, 'keyboard-focus');
    guard.check('keyboard');
  });

  await step('a photo without a face shows the help message', async () => {
    const answer = await upload(page, { name: 'no-face.png', mimeType: 'image/png', buffer: plainPng() });
    assert(answer.faces.length === 0, 'the server finds no face in a plain PNG');
    const help = (await page.locator('#search-help').textContent()).trim();
    assert(help === NO_FACE_MESSAGE, `the page shows the server's help message ("${help}")`);
    assert(await page.locator('#results').isHidden(), 'no stale results stay on screen');
    await screenshot(page, 'no-face');
    // The same photo dropped on the drop zone is uploaded too.
    await page.locator('#search-help').evaluate((help) => { help.hidden = true; });
    const dropped = page.waitForResponse((r) => r.url().endsWith('/api/uploads'));
    await page.locator('#drop-zone').evaluate((zone, base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, plainPng().toString('base64'));
    assert((await (await dropped).json()).faces.length === 0, 'the dropped photo was uploaded');
    await page.locator('#search-help:not([hidden])', { hasText: NO_FACE_MESSAGE }).waitFor();
    guard.check('no face');
  });

  let renamed;
  let merged;
  let rejected;
  await step('people: rename, merge and reject on the pages', async () => {
    await page.goto(`${server.url}/#/people`);
    const cards = page.locator('#people-grid .person-card');
    await cards.first().waitFor();
    const before = await apiGet(page, '/api/people?limit=200');
    assert(before.total >= 3, `clustering found at least 3 people (${before.total})`);
    assert(await cards.count() === Math.min(before.total, 60), 'the gallery shows the first page of people');
    await screenshot(page, 'people', { fullPage: true });

    // Rename the person with most faces.
    const target = before.people[0];
    const other = before.people[1];
    await cards.first().locator('a').click();
    await page.waitForFunction((id) => location.hash === `#/people/${id}`, target.id);
    // Wait for the person to be shown: a late answer would overwrite the name field.
    await page.locator('#timeline .face-card').first().waitFor();
    renamed = { id: target.id, name: `Tested Person ${Date.now() % 100000}` };
    await page.fill('#rename-input', renamed.name);
    let response = page.waitForResponse((r) => r.url().endsWith(`/api/people/${target.id}`) && r.request().method() === 'PATCH');
    await page.click('#rename-form button[type=submit]');
    assert((await response).ok(), 'the rename succeeds');
    await page.locator('#person-title', { hasText: renamed.name }).waitFor();

    // Merge the second person into it, confirming in the dialog.
    await page.locator(`#merge-select option[value="${other.id}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#merge-select', String(other.id));
    await page.click('#merge-form button[type=submit]');
    await page.locator('#confirm-dialog[open]').waitFor();
    response = page.waitForResponse((r) => r.url().endsWith(`/api/people/${target.id}/merge`));
    await page.click('#confirm-ok');
    const mergedPerson = await (await response).json();
    merged = { keep: target.id, other: other.id, faces: mergedPerson.faces.length };
    assert(merged.faces === target.faces + other.faces, `the merged person has both people's faces (${merged.faces} = ${target.faces} + ${other.faces})`);
    await page.locator('#person-meta', { hasText: `${merged.faces} faces` }).waitFor();

    // Reject the last face of the timeline.
    const faceCards = page.locator('#timeline .face-card');
    const count = await faceCards.count();
    assert(count === merged.faces, `the timeline shows every face (${count} of ${merged.faces})`);
    const last = faceCards.nth(count - 1);
    rejected = Number(await last.getAttribute('data-face-id'));
    response = page.waitForResponse((r) => r.url().endsWith(`/api/people/${target.id}/reject`));
    await last.locator('button.reject').click();
    assert((await response).ok(), 'the reject succeeds');
    await page.locator(`#timeline .face-card[data-face-id="${rejected}"]`).waitFor({ state: 'detached' });
    await screenshot(page, 'person', { fullPage: true });
    guard.check('people edits');
  });

  await step('after a reload every change is still there', async () => {
    await page.reload();
    await page.locator('html[data-ready="true"]').waitFor();
    assert(await page.evaluate(() => location.hash) === `#/people/${renamed.id}`, 'the reload keeps the view');
    await page.locator('#person-title', { hasText: renamed.name }).waitFor();
    const ids = await page.locator('#timeline .face-card').evaluateAll((cards) => cards.map((c) => Number(c.dataset.faceId)));
    assert(ids.length === merged.faces - 1, `the person keeps the merged faces less the rejected one (${ids.length})`);
    assert(!ids.includes(rejected), `the rejected face ${rejected} stays out`);
    // Dates: a year heading before the undated group, never after it.
    const groups = await page.locator('#timeline .year').evaluateAll((s) => s.map((e) => e.dataset.year));
    assert(groups.indexOf('none') === -1 || groups.indexOf('none') === groups.length - 1, `photos without a date come last (${groups})`);
    await page.goto(`${server.url}/#/people`);
    await page.locator('#people-grid .person-card').first().waitFor();
    assert(await page.locator(`#people-grid .person-card[data-person-id="${merged.other}"]`).count() === 0,
      'the merged person is gone from the gallery');
    const card = page.locator(`#people-grid .person-card[data-person-id="${renamed.id}"]`);
    assert((await card.locator('.person-name').textContent()) === renamed.name, 'the gallery shows the new name');
    guard.check('reload');
  });

  await step('library: index the val folder with live progress, then group into people', async () => {
    await page.goto(`${server.url}/#/library`);
    await page.locator('#index-run:not([hidden])').waitFor();
    // An API error reaches the user with the API's own message.
    const missing = path.join(work, 'no-such-folder');
    await page.fill('#index-folder', missing);
    const refused = page.waitForResponse((r) => r.url().endsWith('/api/index') && r.request().method() === 'POST');
    await page.click('#index-start');
    const apiError = (await (await refused).json()).error;
    assert((await refused).status() === 400 && apiError && apiError.message, `a missing folder is a 400 with a message (${JSON.stringify(apiError)})`);
    await page.locator('#error[role=alert]', { hasText: apiError.message }).waitFor();
    await screenshot(page, 'api-error');
    await guard.forgiveFailedRequest(400, '/api/index');
    guard.check('api error');
    await page.fill('#index-folder', path.join(work, 'val'));
    // Live progress: the page shows the run as running, then polls until it
    // has finished. How many polls that takes depends on the machine's speed
    // (25 small photos can be done before the first poll), so the test asks
    // for the running state shown and at least the poll that saw the end.
    const polls = [];
    page.on('response', async (r) => {
      if (r.url().endsWith('/api/index') && r.request().method() === 'GET') {
        polls.push((await r.json()).state);
      }
    });
    await page.evaluate(() => {
      window.indexStatesShown = [];
      new MutationObserver(() => window.indexStatesShown.push(document.getElementById('index-state').textContent))
        .observe(document.getElementById('index-state'), { childList: true, characterData: true, subtree: true });
    });
    const started = page.waitForResponse((r) => r.url().endsWith('/api/index') && r.request().method() === 'POST');
    await page.click('#index-start');
    assert((await (await started).json()).state === 'running', 'POST /api/index answers with the run going');
    await page.locator('#index-state', { hasText: 'Finished indexing' }).waitFor({ timeout: 120000 });
    const shown = await page.evaluate(() => window.indexStatesShown);
    assert(shown.some((text) => text.startsWith('Indexing ')), `the page showed the run going (${JSON.stringify(shown)})`);
    assert(polls.length >= 1 && polls[polls.length - 1] === 'done', `the page polled the run until it was done (${JSON.stringify(polls)})`);
    const stats = await page.locator('#index-stats').textContent();
    assert(/Photos25of25/.test(stats.replace(/\s+/g, '')), `the progress shows all 25 val photos (${stats})`);
    await screenshot(page, 'library-indexed');
    const response = page.waitForResponse((r) => r.url().endsWith('/api/people/cluster'));
    await page.click('#cluster-button');
    assert((await response).ok(), 'grouping into people succeeds');
    await page.locator('#cluster-result', { hasText: 'faces grouped into' }).waitFor();
    guard.check('library');
  });

  await step('a 400 px window: no horizontal overflow, search still works', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    await page.goto(`${server.url}/#/search`);
    await page.locator('html[data-ready="true"]').waitFor();
    await upload(page, path.join(work, 'val', QUERY_NARROW.identity, QUERY_NARROW.file));
    await searchLargestFace(page);
    const first = await firstResultIdentity(page);
    assert(first.identity === QUERY_NARROW.identity, `the first result is a ${QUERY_NARROW.identity} photo, not ${first.path}`);
    await noHorizontalOverflow(page, 'search');
    await screenshot(page, 'narrow-search', { fullPage: true });
    await page.goto(`${server.url}/#/people`);
    await page.locator('#people-grid .person-card').first().waitFor();
    await noHorizontalOverflow(page, 'people');
    await screenshot(page, 'narrow-people');
    await page.goto(`${server.url}/#/people/${renamed.id}`);
    await page.locator('#timeline .face-card').first().waitFor();
    await noHorizontalOverflow(page, 'person');
    await page.goto(`${server.url}/#/library`);
    await page.locator('#index-run:not([hidden])').waitFor();
    await noHorizontalOverflow(page, 'library');
    await screenshot(page, 'narrow-library');
    guard.check('narrow');
  });

  await step('privacy: export a person as a ZIP, then erase them for good', async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${server.url}/#/people/${renamed.id}`);
    await page.locator('#timeline .face-card').first().waitFor();
    const faces = await page.locator('#timeline .face-card').count();
    const download = page.waitForEvent('download');
    await page.click('#export-button');
    const file = await (await download).path();
    const zip = fs.readFileSync(file);
    assert(zip.subarray(0, 4).toString('binary') === 'PK\x03\x04' && zip.includes('person.json'),
      `the download is a ZIP with person.json (${zip.length} bytes)`);
    await page.click('#erase-button');
    await page.locator('#confirm-dialog[open]').waitFor();
    const erased = page.waitForResponse((r) => r.url().endsWith(`/api/people/${renamed.id}/erase`));
    await page.click('#confirm-ok');
    const report = await (await erased).json();
    assert(report.faces === faces, `every face of the person was erased (${report.faces} of ${faces})`);
    await page.waitForFunction(() => location.hash === '#/people');
    await page.reload();
    await page.locator('#people-grid .person-card').first().waitFor();
    assert(await page.locator(`#people-grid .person-card[data-person-id="${renamed.id}"]`).count() === 0,
      'the erased person is gone from the gallery after a reload');
    // Asked from here, not from the page: a 404 there would be a console error.
    const person = (await fetch(`${server.url}/api/people/${renamed.id}`)).status;
    assert(person === 404, `the erased person is 404 in the API (${person})`);
    guard.check('privacy');
  });
  console.log('ok');
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
  if (server) console.error(`--- likeness serve output ---\n${server.log()}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
