// svg-browser.mjs - open an SVG flame graph in headless Chromium (Debian's, driven by
// playwright-core) and report what a user sees and what the page did, as JSON:
//   title, frames [{label, info, text, x, width, hidden}] after the scripts ran, the element
//   tags in the document, page errors, dialogs (alert/prompt/confirm) that opened by
//   themselves, requests other than the SVG itself, and the results of the actions asked for:
//     --hover LABEL        the details line while the pointer is on frame LABEL
//     --click LABEL        zoom: click frame LABEL, report the frames, then click Reset Zoom
//     --search TERM        click Search, type TERM into its prompt, report the matched line
//     --url-search TERM    load FILE?s=TERM and report the matched line
//     --screenshot PNG     a screenshot of the page (--size WxH, default 1200x600)
//
//   node svg-browser.mjs NODE_MODULES_DIR FILE.svg [actions...]
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';

const [modules, file, ...rest] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), 'x.js'));
const { chromium } = require('playwright-core');

const opts = {};
for (let i = 0; i < rest.length; i += 2) opts[rest[i].replace(/^--/, '')] = rest[i + 1];
const [vw, vh] = (opts.size || '1200x600').split('x').map(Number);

const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'ahprof-flame-chromium-'));
const browser = await chromium.launchPersistentContext(userData, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: vw, height: vh },
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-quic'],
});
const url = 'file://' + path.resolve(file);
const out = { errors: [], dialogs: [], requests: [] };
try {
  const page = browser.pages()[0] || (await browser.newPage());
  let expectPrompt = null;
  page.on('pageerror', (e) => out.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push(m.text()); });
  page.on('request', (r) => { if (!r.url().startsWith(url)) out.requests.push(r.url()); });
  page.on('dialog', async (d) => {
    if (expectPrompt !== null && d.type() === 'prompt') {
      await d.accept(expectPrompt);
      expectPrompt = null;
    } else {
      out.dialogs.push(`${d.type()}: ${d.message()}`);
      await d.dismiss();
    }
  });

  const frames = () => page.evaluate(() =>
    [...document.querySelectorAll('#frames > g')].map((g) => {
      const r = g.querySelector('rect');
      const t = g.querySelector('title').textContent.split('\n');
      return { label: t[0], info: t[1] || '', text: g.querySelector('text').textContent,
               x: parseFloat(r.getAttribute('x')), width: parseFloat(r.getAttribute('width')),
               hidden: getComputedStyle(g).display === 'none' };
    }));
  // A frame by its exact label (the <title>'s first line), as a locator to act on.
  const frame = (label) => page.locator('#frames > g').filter({
    has: page.locator('title', { hasText: label }),
  }).filter({ hasText: label }).first();
  const byLabel = async (label) => {
    const all = page.locator('#frames > g');
    const n = await all.count();
    for (let i = 0; i < n; i++) {
      const t = await all.nth(i).locator('title').textContent();
      if (t.split('\n')[0] === label) return all.nth(i);
    }
    throw new Error(`no frame labelled ${JSON.stringify(label)}`);
  };
  void frame;

  await page.goto(url);
  await page.waitForFunction(() => typeof init === 'function');
  out.title = await page.title();
  out.title_text = await page.textContent('#title');
  out.subtitle = await page.textContent('#subtitle');
  out.tags = await page.evaluate(() => [...new Set([...document.querySelectorAll('*')].map((e) => e.localName))].sort());
  out.scripts = await page.evaluate(() => document.querySelectorAll('script').length);
  out.frames = await frames();

  if (opts.hover) {
    await (await byLabel(opts.hover)).hover();
    out.hover = await page.textContent('#details');
  }
  if (opts.click) {
    await (await byLabel(opts.click)).click();
    out.zoomed = await frames();
    out.unzoom_visible = await page.evaluate(() => !document.getElementById('unzoom').classList.contains('hide'));
    await page.click('#unzoom');
    out.unzoomed = await frames();
  }
  if (opts.search) {
    expectPrompt = opts.search;
    await page.click('#search');
    await page.waitForFunction(() => document.getElementById('matched').textContent.trim() !== '');
    out.search = await page.textContent('#matched');
    out.search_hits = (await frames()).length;
    out.search_matched = await page.evaluate(() =>
      [...document.querySelectorAll('#frames > g.match title')].map((t) => t.textContent.split('\n')[0]));
  }
  if (opts['url-search']) {
    await page.goto(url + '?s=' + encodeURIComponent(opts['url-search']));
    await page.waitForFunction(() => document.getElementById('matched').textContent.trim() !== '');
    out.url_search = await page.textContent('#matched');
  }
  if (opts.screenshot) {
    await page.goto(url);
    await page.waitForFunction(() => typeof init === 'function');
    await page.screenshot({ path: opts.screenshot });
  }
} finally {
  await browser.close();
  fs.rmSync(userData, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out) + '\n');
