// speedscope-import.mjs - import a file with speedscope's own importer (the code of its npm
// package, as the speedscope app runs it) and print what speedscope made of it, as JSON:
//   {"format": <what speedscope said it imported>, "name": ..., "profiles": [{"name", "unit",
//    "total", "frames": {NAME: {"self", "total"}}, "paths": {"a;b;c": {"self", "total"}}}]}
// "paths" walks speedscope's own call tree (grouped, like its left-heavy view).
//
//   node speedscope-import.mjs NODE_MODULES_DIR FILE [NAME]
// NAME is the file name speedscope sees (it picks some formats by name); default FILE's.
// Exit status 0 when speedscope imported the file, 1 when it refused it (message on stderr).
//
// The npm package ships speedscope as one browser bundle whose importer is not exported, so
// this loads the bundle in a bare VM context, exposing the module namespace the app's own
// loadFileFromBase64 awaits, and stops before the bundle starts rendering its UI (which needs
// a browser). Nothing of speedscope's importer is reimplemented here.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

const [modules, file, nameArg] = process.argv.slice(2);
if (!modules || !file) {
  console.error('usage: node speedscope-import.mjs NODE_MODULES_DIR FILE [NAME]');
  process.exit(2);
}
const dist = path.join(modules, 'speedscope', 'dist', 'release');
const bundleName = fs.readdirSync(dist).find((f) => /^speedscope-.*\.js$/.test(f));
const src = fs.readFileSync(path.join(dist, bundleName), 'utf8');

// The app imports through `(await NS).importProfileGroupFromText(...)`: find NS.
const m = src.match(/async function \w+\(\w+,\w+\)\{return\(await (\w+)\)\.importProfileGroupFromText\(/);
if (!m) throw new Error(`cannot find the importer in ${bundleName}`);
// The UI is rendered by the bundle's last statements, from the version banner on.
const cut = src.lastIndexOf('console.log(`speedscope v');
if (cut < 0) throw new Error(`cannot find where ${bundleName} starts its UI`);
const patched = src.slice(0, cut) + `globalThis.__importer=${m[1]};})();`;

const logs = [];
const ctx = {
  console: { log: (...a) => logs.push(a.join(' ')), warn: () => {}, error: (...a) => logs.push(a.join(' ')),
             time: () => {}, timeEnd: () => {} },
  setTimeout, clearTimeout, TextDecoder, TextEncoder, URL, atob, btoa,
  document: {}, navigator: { userAgent: 'node' }, location: { hash: '', search: '', href: 'file:///' },
  addEventListener() {}, requestAnimationFrame: () => 0,
  matchMedia: () => ({ matches: false, addEventListener() {}, addListener() {} }),
};
ctx.window = ctx;
ctx.globalThis = ctx;
ctx.self = ctx;
vm.createContext(ctx);
vm.runInContext(patched, ctx, { filename: bundleName });
const importer = await ctx.__importer;

const text = fs.readFileSync(file, 'utf8');
let group;
try {
  group = await importer.importProfileGroupFromText(nameArg || path.basename(file), text);
} catch (e) {
  console.error(`speedscope failed to import ${file}: ${e && e.message}`);
  process.exit(1);
}
if (!group) {
  console.error(`speedscope did not recognise ${file} (${logs.join('; ')})`);
  process.exit(1);
}

function walk(node, prefix, out) {
  for (const child of node.children) {
    const p = prefix === null ? child.frame.name : prefix + ';' + child.frame.name;
    const e = out[p] || (out[p] = { self: 0, total: 0 });
    e.self += child.getSelfWeight();
    e.total += child.getTotalWeight();
    walk(child, p, out);
  }
}

const result = { format: logs.find((l) => /^Importing as/.test(l)) || '', name: group.name, profiles: [] };
for (const p of group.profiles) {
  const frames = {};
  p.forEachFrame((f) => {
    const e = frames[f.name] || (frames[f.name] = { self: 0, total: 0 });
    e.self += f.getSelfWeight();
    e.total += f.getTotalWeight();
  });
  const paths = {};
  walk(p.getGroupedCalltreeRoot(), null, paths);
  result.profiles.push({ name: p.getName(), unit: p.getWeightUnit(), total: p.getTotalWeight(), frames, paths });
}
process.stdout.write(JSON.stringify(result) + '\n');
