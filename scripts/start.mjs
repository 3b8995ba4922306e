// Starts a real Node-RED with this package and its example flow, on the embedded store:
// user directory inside the project (.node-red/), editor on http://127.0.0.1:1880.
//   JOURNEYS_USER_DIR  another user directory      PORT  another port
//   JOURNEYS_NODE_RED  node-red (5.x, default) or node-red-4 (4.1)
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const userDir = resolve(process.env.JOURNEYS_USER_DIR ?? join(root, '.node-red'));
const port = process.env.PORT ?? '1880';
const nodeRed = process.env.JOURNEYS_NODE_RED ?? 'node-red';
const firstExample = 'Capture events into profiles.json';

mkdirSync(join(userDir, 'node_modules'), { recursive: true });

// Node-RED finds packages in <userDir>/node_modules; a link keeps it on the working tree.
const link = join(userDir, 'node_modules', 'node-red-contrib-journeys');
if (existsSync(link) || isDanglingLink(link)) rmSync(link, { recursive: true, force: true });
symlinkSync(root, link, 'dir');

const settings = join(userDir, 'settings.js');
if (!existsSync(settings)) {
  writeFileSync(
    settings,
    `// Written by scripts/start.mjs for local use; edit freely, it is not overwritten.
module.exports = {
  uiHost: process.env.JOURNEYS_HOST || '127.0.0.1',
  flowFile: 'flows.json',
  flowFilePretty: true,
  logging: { console: { level: 'info', metrics: false, audit: false } },
  editorTheme: { tours: false, projects: { enabled: false } },
  // A local development runtime: no call home, and no consent prompt on first open.
  telemetry: { enabled: false },
};
`,
  );
}
if (!existsSync(join(userDir, 'package.json'))) {
  writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'journeys-user-dir', private: true }, null, 2));
}

const flows = join(userDir, 'flows.json');
if (!existsSync(flows)) copyFileSync(join(root, 'examples', firstExample), flows);

const redJs = join(root, 'node_modules', nodeRed, 'red.js');
const version = JSON.parse(readFileSync(join(root, 'node_modules', nodeRed, 'package.json'), 'utf8')).version;
console.log(`Starting Node-RED ${version} with node-red-contrib-journeys; user directory ${userDir}`);
console.log(`Editor: http://127.0.0.1:${port}/`);

const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--port', port, '--settings', settings], {
  stdio: 'inherit',
  cwd: userDir,
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

function isDanglingLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
