/** The gates' view of the transport contract (defined in transport/contract.ts, where the bridge needs it). */
export type { GateContext, GateDecision, Rejection, RequestGate } from './transport/contract.js';
