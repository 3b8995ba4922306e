// Runs the whole suite: the lib/ tests once, then the node and runtime tests once per
// supported Node-RED line (5.x as `node-red`, 4.1 as the `node-red-4` alias). Prints one
// closing line, "N passed, N failed", summed over every run.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mocha = join(root, 'node_modules/mocha/bin/mocha.js');
const extra = process.argv.slice(2);

const runs = [
  { label: 'lib (store contract, events, profiles)', specs: ['dist/test/lib/**/*.test.js'], env: {} },
  ...['node-red', 'node-red-4'].map((pkg) => ({
    label: `nodes and runtime on ${pkg} ${requireVersion(pkg)}`,
    specs: ['dist/test/nodes', 'dist/test/runtime']
      .filter((dir) => existsSync(join(root, dir)))
      .map((dir) => `${dir}/**/*.test.js`),
    env: { JOURNEYS_NODE_RED: pkg },
  })),
  // Once, on the current Node-RED line: minutes long, and about this package's scale, not Node-RED's.
  { label: 'scale (a 50,000-profile audience in a real Node-RED process)', specs: ['dist/test/scale/**/*.test.js'], env: { JOURNEYS_NODE_RED: 'node-red' } },
];

function requireVersion(pkg) {
  return JSON.parse(
    readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8'),
  ).version;
}

const totals = { passed: 0, failed: 0, pending: 0 };
// CI logs keep only the tail, so each run's failure reports are printed again at the very end.
const failures = [];
let exitCode = 0;
for (const run of runs.filter((r) => r.specs.length > 0)) {
  console.log(`\n=== ${run.label} ===`);
  const code = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [mocha, '--require', 'dist/test/support/hooks.js', '--timeout', '30000', ...extra, ...run.specs],
      { cwd: root, env: { ...process.env, ...run.env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      output += chunk.toString();
    });
    child.on('close', () => {
      for (const [pattern, key] of [
        [/^\s*(\d+) passing/m, 'passed'],
        [/^\s*(\d+) failing/m, 'failed'],
        [/^\s*(\d+) pending/m, 'pending'],
      ]) {
        const m = pattern.exec(output);
        if (m) totals[key] += Number(m[1]);
      }
      const failing = /^\s*\d+ failing[\s\S]*/m.exec(output);
      if (failing) failures.push(`--- ${run.label} ---\n${failing[0].trimEnd()}`);
    });
    child.on('close', (status) => resolve(status ?? 1));
  });
  if (code !== 0) exitCode = 1;
}
if (failures.length > 0) console.log(`\n=== failures, again ===\n\n${failures.join('\n\n')}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.pending ? `, ${totals.pending} skipped` : ''}`);
process.exit(exitCode);
