export { CaseRouter, caseIdFor, type CaseRouterOptions, type CaseActionRequest, type CaseFilter } from './router.ts';
export { RoutingTable, type RouteDecision, type RuleMatch } from './rules.ts';
export { CaseStore, CASES_BUCKET, DISPATCH_STREAM, CASE_LOG_STREAM, NOTIFY_STREAM, dispatchSubject, ackSubject, dispatchDurable, caseLogSubject, type DispatchOrder, type Notice } from './store.ts';
export { CaseActionError, RouterStartError, type CaseErrorCode } from './errors.ts';
export { registerRouterApi } from './api.ts';
export type { Open311Options } from './open311.ts';
export type { Open311Caller } from './open311-format.ts';
