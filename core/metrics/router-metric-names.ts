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
  thresholdReloadErrors: 'tinysaver_threshold_reload_errors_total',
  duration: 'tinysaver_request_duration_seconds',
  processStart: 'process_start_time_seconds',
} as const;
