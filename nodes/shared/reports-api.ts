/**
 * The reports as an admin HTTP API, behind Node-RED's admin auth (permission
 * `journeys.read`): the Journeys sidebar reads it, and integrators can too, as JSON or CSV.
 *   GET /journeys/reports[?store=<journey-store id>][&format=csv]            every journey's counts
 *   GET /journeys/reports/<journey>[?store=…][&days=30][&format=csv]         one journey in full
 */
import type { Request, Response } from 'express';
import { journeyReport, listJourneys, type JourneyReport, type JourneySummary } from '../../lib/index.js';
import type { NodeAPI } from './red.js';
import { findStoreConfig, type JourneyStoreConfigNode } from './store-client.js';

const registered = new WeakSet<object>();

/** The journey-store config nodes deployed now, by id, with the label the editor would show. */
function deployedStores(RED: NodeAPI): Array<{ id: string; label: string; node: JourneyStoreConfigNode }> {
  const out: Array<{ id: string; label: string; node: JourneyStoreConfigNode }> = [];
  RED.nodes.eachNode((def: { id: string; type: string; name?: string; backend?: string; database?: string }) => {
    if (def.type !== 'journey-store') return;
    const node = findStoreConfig(RED, def.id);
    if (node) out.push({ id: def.id, label: def.name || (def.backend === 'mongodb' ? `MongoDB ${def.database || 'journeys'}` : 'embedded store'), node });
  });
  return out;
}

const csvCell = (value: unknown): string => {
  const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};
const csv = (rows: unknown[][]): string => rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';

const SUMMARY_COLUMNS = ['journey', 'entered', 'active', 'waiting', 'completed', 'exited', 'converted', 'conversionRate'] as const;

function listCsv(journeys: JourneySummary[]): string {
  return csv([[...SUMMARY_COLUMNS], ...journeys.map((j) => SUMMARY_COLUMNS.map((c) => j[c]))]);
}

/** One row per figure: section, key, metric, value — easy to filter in a spreadsheet. */
function reportCsv(report: JourneyReport): string {
  const rows: unknown[][] = [['section', 'key', 'metric', 'value']];
  for (const c of SUMMARY_COLUMNS.slice(1)) rows.push(['journey', report.journey, c, report[c]]);
  for (const f of report.funnel) {
    rows.push(['funnel', f.node, 'reached', f.reached], ['funnel', f.node, 'here', f.here]);
    for (const [status, n] of Object.entries(f.endedHere)) rows.push(['funnel', f.node, `ended ${status}`, n]);
  }
  for (const c of report.channels) {
    for (const metric of ['sent', 'skipped', 'failed', 'queued', 'opened', 'clicked', 'delivered', 'undelivered', 'conversions'] as const) rows.push(['channel', `${c.channel}:${c.node}`, metric, c[metric]]);
    for (const [reason, n] of Object.entries(c.reasons)) rows.push(['channel', `${c.channel}:${c.node}`, `reason ${reason}`, n]);
  }
  for (const b of report.branches) {
    const key = `${b.split}:${b.variant}`;
    rows.push(['branch', key, 'instances', b.instances], ['branch', key, 'converted', b.converted], ['branch', key, 'rate', b.rate]);
    rows.push(['branch', key, 'ci95 low', b.interval.low], ['branch', key, 'ci95 high', b.interval.high]);
    if (b.vsControl) rows.push(['branch', key, `p-value vs ${b.vsControl.control}`, b.vsControl.pValue], ['branch', key, 'significant', b.vsControl.significant]);
  }
  for (const t of report.timeline) rows.push(['timeline', t.day, 'entered', t.entered], ['timeline', t.day, 'converted', t.converted]);
  return csv(rows);
}

export function registerReportsApi(RED: NodeAPI): void {
  if (registered.has(RED.httpAdmin)) return;
  registered.add(RED.httpAdmin);
  const permission = RED.auth.needsPermission('journeys.read');

  async function storeFor(req: Request, res: Response) {
    const stores = deployedStores(RED);
    const asked = typeof req.query.store === 'string' ? req.query.store : undefined;
    const chosen = asked ? stores.find((s) => s.id === asked) : stores[0];
    if (!chosen) {
      res.status(404).json({ error: asked ? `no deployed journey store ${asked}` : 'no journey store is deployed' });
      return null;
    }
    return { stores, chosen, store: await chosen.node.getStore() };
  }
  const fail = (res: Response) => (err: Error) => {
    if (!res.headersSent) res.status(503).json({ error: err.message });
  };

  const asCsv = (req: Request) => req.query.format === 'csv';
  const list = (req: Request, res: Response) => {
    void (async () => {
      const found = await storeFor(req, res);
      if (!found) return;
      const journeys = await listJourneys(found.store);
      if (asCsv(req)) return void res.type('text/csv').send(listCsv(journeys));
      res.json({ store: found.chosen.id, stores: found.stores.map((s) => ({ id: s.id, label: s.label })), journeys });
    })().catch(fail(res));
  };
  const one = (req: Request, res: Response) => {
    void (async () => {
      const found = await storeFor(req, res);
      if (!found) return;
      const days = Math.min(366, Math.max(1, Number(req.query.days ?? 30) || 30));
      const report = await journeyReport(found.store, String(req.params.journey ?? ''), { days });
      if (asCsv(req)) return void res.type('text/csv').send(reportCsv(report));
      res.json({ store: found.chosen.id, ...report });
    })().catch(fail(res));
  };

  RED.httpAdmin.get('/journeys/reports', permission, list);
  RED.httpAdmin.get('/journeys/reports/:journey', permission, one);
}
