/** Node-RED's runtime API types this package uses, in one place. */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';

export type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus };

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type Done = (err?: Error) => void;

/** The parts of RED.util this package calls (typed narrowly on purpose). */
export interface RedUtil {
  getMessageProperty(msg: NodeMessage, expr: string): unknown;
  setMessageProperty(msg: NodeMessage, expr: string, value: unknown, createMissing?: boolean): boolean;
  cloneMessage<T extends NodeMessage>(msg: T): T;
}

export const redUtil = (RED: NodeAPI): RedUtil => RED.util as unknown as RedUtil;

type Constructor = Parameters<NodeAPI['nodes']['registerType']>[1];
type TypeOptions = Parameters<NodeAPI['nodes']['registerType']>[2];

/**
 * Registers a node type. Node-RED calls constructors with `this` bound to a fresh node,
 * which the published typings cannot express for a plain function; the cast lives here once.
 */
export function registerNode<D extends NodeDef, N extends Node>(
  RED: NodeAPI,
  type: string,
  constructor: (this: N, def: D) => void,
  options?: TypeOptions,
): void {
  RED.nodes.registerType(type, constructor as unknown as Constructor, options);
}
