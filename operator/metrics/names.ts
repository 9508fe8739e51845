// Operator-side per-cascade metric names (Prometheus text at the operator's /metrics).
// Contract: the Helm chart's PrometheusRule and Grafana dashboard query these names, and
// test/integration/observability.test.ts fails when a name used there is neither here nor a router
// contract metric (DESIGN.md "Metrics (contract)"). Rename only together with the chart.
// Every cascade metric carries the labels {namespace, cascade}.

/** Labels on every per-cascade operator metric. */
export const CASCADE_LABELS = ['namespace', 'cascade'] as const;

/** Gauge: threshold the cascade's routers are told to use (what the ConfigMap holds). */
export const CASCADE_THRESHOLD = 'tinysaver_cascade_threshold';
/** Gauge: spec.threshold.max, so alerts can see a threshold pinned at its ceiling. */
export const CASCADE_THRESHOLD_MAX = 'tinysaver_cascade_threshold_max';
/** Gauge: certified upper bound on accuracy loss vs the base at the current threshold (fraction of traffic). */
export const CASCADE_LOSS_BOUND = 'tinysaver_cascade_loss_bound';
/** Gauge: spec.budget max accuracy loss vs the base (fraction of traffic), for bound-vs-budget alerts. */
export const CASCADE_BUDGET = 'tinysaver_cascade_budget';
/** Gauge: fraction of rows the saver answered over the telemetry window (0..1). */
export const CASCADE_SAVER_SHARE = 'tinysaver_cascade_saver_share';
/** Gauge: seconds since the last successful telemetry scrape of the cascade's routers. */
export const CASCADE_TELEMETRY_AGE_SECONDS = 'tinysaver_cascade_telemetry_age_seconds';
/** Counter: threshold changes applied, extra label direction="raise|lower". */
export const CASCADE_THRESHOLD_CHANGES_TOTAL = 'tinysaver_cascade_threshold_changes_total';

/** Gauge: estimated cost saved per hour over the telemetry window (spec.cost set; operator/cost/savings.ts). */
export const CASCADE_COST_SAVED_PER_HOUR = 'tinysaver_cascade_cost_saved_per_hour';
/** Gauge: rows in the telemetry window the saver answered without the base (spec.cost set). */
export const CASCADE_BASE_ROWS_AVOIDED = 'tinysaver_cascade_base_rows_avoided';

/** Every name above, for cross-checks. */
export const OPERATOR_CASCADE_METRICS: readonly string[] = [
  CASCADE_THRESHOLD,
  CASCADE_THRESHOLD_MAX,
  CASCADE_LOSS_BOUND,
  CASCADE_BUDGET,
  CASCADE_SAVER_SHARE,
  CASCADE_TELEMETRY_AGE_SECONDS,
  CASCADE_THRESHOLD_CHANGES_TOTAL,
  CASCADE_COST_SAVED_PER_HOUR,
  CASCADE_BASE_ROWS_AVOIDED,
];
