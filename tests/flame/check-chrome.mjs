// check-chrome.mjs - read a Chrome trace JSON file with node's JSON parser and check what
// Perfetto and chrome://tracing rely on, then print a summary as JSON:
//   - the document is an object with a traceEvents array; every event has a known phase;
//   - X slices have a string name, numeric ts, dur >= 0 and integer pid/tid;
//   - per thread, slices nest: sorted by start (longest first on ties), each slice lies
//     inside the enclosing open one or starts after it ended (no partial overlap);
//   - every thread with slices is named by an M thread_name event;
//   - flows ("v2": bind_id with flow_out/flow_in): every slice with flow_in has an earlier
//     (or simultaneous) slice with flow_out and the same bind_id;
//   - with --names: the set of slice names (to compare against the expected frames).
//
//   node check-chrome.mjs FILE
// Exit status 0 when every check passed; 1 with the failures on stderr.
import fs from 'node:fs';

const file = process.argv[2];
const text = fs.readFileSync(file, 'utf8');
const failures = [];
let doc;
try {
  doc = JSON.parse(text);
} catch (e) {
  console.error(`not JSON: ${e.message}`);
  process.exit(1);
}
if (!doc || typeof doc !== 'object' || !Array.isArray(doc.traceEvents)) {
  console.error('no traceEvents array');
  process.exit(1);
}

const phases = new Set(['X', 'M', 'B', 'E', 'i', 'I', 's', 't', 'f', 'C']);
const threads = new Map(); // "pid/tid" -> slices
const named = new Set();
const outs = new Map(); // bind_id -> earliest flow_out ts
const ins = [];
const names = new Set();
const cats = {};
let processName = null;
for (const e of doc.traceEvents) {
  if (!phases.has(e.ph)) failures.push(`unknown phase ${JSON.stringify(e.ph)}`);
  if (e.ph === 'M') {
    if (e.name === 'thread_name') named.add(`${e.pid}/${e.tid}`);
    if (e.name === 'process_name') processName = e.args && e.args.name;
    if (!e.args || typeof e.args.name !== 'string') failures.push('M event without args.name');
    continue;
  }
  if (e.ph !== 'X') continue;
  if (typeof e.name !== 'string') failures.push('X without a string name');
  if (typeof e.ts !== 'number' || typeof e.dur !== 'number' || e.dur < 0)
    failures.push(`bad ts/dur on ${e.name}`);
  if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) failures.push(`bad pid/tid on ${e.name}`);
  const key = `${e.pid}/${e.tid}`;
  if (!threads.has(key)) threads.set(key, []);
  threads.get(key).push(e);
  names.add(e.name);
  cats[e.cat] = (cats[e.cat] || 0) + 1;
  if (e.bind_id !== undefined) {
    if (e.flow_out && !e.flow_in) {
      const prev = outs.get(e.bind_id);
      if (prev === undefined || e.ts < prev) outs.set(e.bind_id, e.ts);
    }
    if (e.flow_in) ins.push(e);
  }
}

let maxDepth = 0;
for (const [key, slices] of threads) {
  if (!named.has(key)) failures.push(`thread ${key} has slices but no thread_name`);
  // ts and dur are microseconds printed to the nanosecond: compare whole nanoseconds.
  const ns = slices.map((e) => ({ e, start: Math.round(e.ts * 1000), end: Math.round((e.ts + e.dur) * 1000) }));
  ns.sort((a, b) => a.start - b.start || b.end - a.end);
  const stack = [];
  for (const s of ns) {
    while (stack.length && stack[stack.length - 1].end <= s.start && stack[stack.length - 1].end < s.end)
      stack.pop();
    const top = stack[stack.length - 1];
    if (top && s.end > top.end)
      failures.push(`thread ${key}: ${s.e.name} [${s.start}, ${s.end}] overlaps ${top.e.name} [${top.start}, ${top.end}]`);
    stack.push(s);
    if (stack.length > maxDepth) maxDepth = stack.length;
  }
}

let linked = 0;
for (const e of ins) {
  const t = outs.get(e.bind_id);
  if (t === undefined) continue; // resource created before the recording: no start
  if (t > e.ts) failures.push(`flow ${e.bind_id} ends at ${e.ts} before it starts at ${t}`);
  else linked++;
}

const summary = {
  process_name: processName,
  threads: [...threads.keys()].sort(),
  slices: Object.values(cats).reduce((a, b) => a + b, 0),
  cats,
  flows_linked: linked,
  flows_in: ins.length,
  max_depth: maxDepth,
  names: [...names].sort(),
  failures,
};
process.stdout.write(JSON.stringify(summary) + '\n');
if (failures.length) {
  for (const f of failures.slice(0, 20)) console.error(f);
  process.exit(1);
}
