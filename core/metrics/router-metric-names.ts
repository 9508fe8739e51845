// The router's metric names: a data-plane contract (DESIGN.md "Metrics"). One table for both sides:
// the router registers these names (runtime/router/metrics.ts) and the operator's telemetry parses and
// queries them (operator/telemetry), so a rename on one side cannot silently break the other.

export const ROUTER_METRICS = {
  requests: 'tinysaver_requests_total',
  rows: 'tinysaver_rows_total',
  confidence: 'tinysaver_confidence',
  escalated: 'tinysaver_escalated_confidence',
  audit: 'tinysaver_audit_confidence',
  auditDropped: 'tinysaver_audit_dropped_total',
  decisionLogDropped: 'tinysaver_decision_log_dropped_total',
  threshold: 'tinysaver_threshold',
  auditRate: 'tinysaver_audit_rate',
  baseFailures: 'tinysaver_base_failures_total',
  baseState: 'tinysaver_base_state',
  thresholdReloadErrors: 'tinysaver_threshold_reload_errors_total',
  duration: 'tinysaver_request_duration_seconds',
  processStart: 'process_start_time_seconds',
} as const;

/**
 * tinysaver_base_state{state}: a state set (one series per state, 1 for the state the router is in now).
 * up: escalations go to the base; circuit-open: the circuit breaker skips base calls (open, or half-open
 * waiting for its probe); unverified: the base has not answered its metadata since the router started
 * (fallback policy: escalated rows are answered by the saver until it does).
 */
export const BASE_STATES = ['up', 'circuit-open', 'unverified'] as const;
export type BaseState = (typeof BASE_STATES)[number];
