// CloudWatch Embedded Metric Format: a JSON log line that CloudWatch Logs turns into metrics,
// so the Lambda functions publish Samsa's own metrics (flush lag) with no PutMetricData call,
// no extra IAM permission and no extra latency. Spec:
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

export const METRICS_NAMESPACE = 'Samsa';

export type MetricUnit = 'Count' | 'Bytes' | 'Milliseconds' | 'Seconds' | 'None';

/**
 * One EMF line. With `aggregate`, the metrics are also published without dimensions (an empty
 * dimension set), so alarms can watch the total of, say, every topic's produce errors.
 */
export function emfLine(
  dimensions: Record<string, string>,
  metrics: Record<string, { value: number | number[]; unit: MetricUnit }>,
  timestamp: number = Date.now(),
  opts: { aggregate?: boolean } = {},
): string {
  const keys = Object.keys(dimensions);
  const values = Object.fromEntries(Object.entries(metrics).map(([k, m]) => [k, m.value]));
  return JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: opts.aggregate && keys.length > 0 ? [keys, []] : [keys],
          Metrics: Object.entries(metrics).map(([name, m]) => ({ Name: name, Unit: m.unit })),
        },
      ],
    },
    ...dimensions,
    ...values,
  });
}
