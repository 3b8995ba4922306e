/**
 * Sending Google's requests somewhere else. firebase-admin and google-auth-library write
 * their hosts into the code (fcm.googleapis.com, oauth2.googleapis.com) but take an
 * https.Agent: this one opens its connections to another server instead, so the SDK's own
 * requests — method, path, headers, Host included — reach a proxy or a test double.
 */
import { Agent } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

export class EndpointAgent extends Agent {
  private readonly target: URL;

  constructor(endpoint: string) {
    super({ keepAlive: false });
    this.target = parseEndpoint(endpoint);
  }

  /** Returned at once: the agent takes a returned socket as made, and writes wait for it to connect. */
  override createConnection(): Duplex {
    const host = this.target.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.target.port || (this.target.protocol === 'https:' ? 443 : 80));
    // http: plain TCP (a loopback double); https: TLS checked against the endpoint's own name.
    return this.target.protocol === 'https:' ? tlsConnect({ host, port, servername: host }) : tcpConnect({ host, port });
  }
}

/** An http(s) URL with no path, query or credentials; throws with the reason otherwise. */
export function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the API endpoint must be an http:// or https:// URL');
  if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new Error('the API endpoint is a scheme, host and port only (no path, query or user)');
  }
  return url;
}

const agents = new Map<string, EndpointAgent>();

/** One agent per endpoint for the process: firebase-admin keeps credentials (and their agent) for its life. */
export function endpointAgent(endpoint: string): EndpointAgent {
  const key = parseEndpoint(endpoint).origin;
  let agent = agents.get(key);
  if (!agent) {
    agent = new EndpointAgent(key);
    agents.set(key, agent);
  }
  return agent;
}
