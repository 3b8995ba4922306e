/**
 * journeys-editor (a Node-RED plugin): editor code the package's nodes share, such as the
 * senders' consent, frequency-cap and quiet-hours settings and the template preview.
 * Node-RED loads plugins' editor scripts before nodes' (see journeys-editor.html); the
 * runtime side only registers it.
 */
import type { NodeAPI } from '../../nodes/shared/red.js';

export = function (RED: NodeAPI): void {
  RED.plugins.registerPlugin('journeys-editor', { type: 'journeys-editor' });
};
