// Compiles the TypeScript and lays out what Node-RED loads: each node's .html and
// locales beside its compiled .js, the icons in an icons/ folder beside each node (the
// only place Node-RED looks), and flows/ copied to examples/ (the only folder Node-RED
// offers under Import > Examples).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...parts) => join(root, ...parts);

rmSync(at('dist'), { recursive: true, force: true });
rmSync(at('examples'), { recursive: true, force: true });

const tsc = spawnSync(process.execPath, [at('node_modules/typescript/bin/tsc'), '-p', at('tsconfig.json')], {
  stdio: 'inherit',
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

for (const name of readdirSync(at('nodes'))) {
  const source = at('nodes', name);
  if (!statSync(source).isDirectory() || !existsSync(join(source, `${name}.html`))) continue;
  const target = at('dist/nodes', name);
  cpSync(join(source, `${name}.html`), join(target, `${name}.html`));
  if (existsSync(join(source, 'locales'))) {
    cpSync(join(source, 'locales'), join(target, 'locales'), { recursive: true });
    addSharedMessages(join(target, 'locales'), name);
  }
  cpSync(at('icons'), join(target, 'icons'), { recursive: true });
}

// A plugin's editor script and locales sit beside its compiled .js, like a node's.
for (const name of readdirSync(at('plugins'))) {
  const html = at('plugins', name, `${name}.html`);
  if (existsSync(html)) cpSync(html, at('dist/plugins', name, `${name}.html`));
  const locales = at('plugins', name, 'locales');
  if (existsSync(locales)) cpSync(locales, at('dist/plugins', name, 'locales'), { recursive: true });
}

cpSync(at('flows'), at('examples'), { recursive: true });

// Node-RED reads each node's messages from its own locale file only: the strings every
// node shares (nodes/shared/locales) are merged into each, the node's own keys first.
function addSharedMessages(locales, name) {
  for (const lang of readdirSync(locales)) {
    const shared = at('nodes/shared/locales', lang, 'journeys.json');
    const own = join(locales, lang, `${name}.json`);
    if (!existsSync(shared) || !existsSync(own)) continue;
    const merged = { ...JSON.parse(readFileSync(shared, 'utf8')), ...JSON.parse(readFileSync(own, 'utf8')) };
    writeFileSync(own, `${JSON.stringify(merged, null, 2)}\n`);
  }
}
console.log('build: dist/ and examples/ ready');
