/**
 * The Node-RED line under test, by its package name in node_modules: `node-red` for 5.x (the
 * default), `node-red-4` for the 4.1 alias (JOURNEYS_NODE_RED). Apart from the test helper's
 * set-up, so the bench can name the same line without loading the helper.
 */
export const nodeRedPackage = process.env.JOURNEYS_NODE_RED ?? 'node-red';
