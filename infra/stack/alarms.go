package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/jsii-runtime-go"
)

// defineAlarms watches what must never happen quietly: a function failing
// or being throttled (for the rotation function, a rotation that did not
// complete), a 5xx from the API (no client input may cause one), stream
// processing falling behind, stream batches given up on, and repairs the
// reconciler could not make.
func (s *DevicepassStack) defineAlarms() {
	action := awscloudwatchactions.NewSnsAction(s.AlarmTopic)
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(s.Stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		s.Alarms = append(s.Alarms, a)
	}
	sum := &awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}

	for _, name := range FunctionNames {
		fn := s.Functions[name].Function()
		errors := "devicepass " + name + " function: invocations failed"
		if name == "rotation" {
			errors = "devicepass rotation failures: a rotation step failed, so a device secret's rotation did not complete; " +
				"Secrets Manager retries it, and the next rotation fails while AWSPENDING is left behind"
		}
		alarm(name+"Errors", errors, fn.MetricErrors(sum), 1)
		alarm(name+"Throttles", "devicepass "+name+" function: invocations throttled", fn.MetricThrottles(sum), 1)
	}
	alarm("Api5xx", "devicepass API answered 5xx (no client input may cause one)", s.Stage.MetricServerError(sum), 1)
	alarm("StreamIteratorAge", "devicepass stream processing is more than 5 minutes behind",
		s.Functions["stream"].Function().Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Maximum"),
		}), 5*60*1000)
	alarm("StreamDLQMessages", "devicepass stream batches failed every retry; see the stream DLQ",
		s.StreamDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: fiveMinutes, Statistic: jsii.String("Maximum"),
		}), 1)
	// The reconciler's own metric (Embedded Metric Format, no dimensions):
	// repairs that failed, or a run that could not list or scan. Over its
	// 15-minute schedule, so one bad run raises it once.
	alarm("ReconcilerFailures", "devicepass reconciler could not repair a crash leftover (or could not run); "+
		"orphan secrets or devices without a secret may remain: see the reconciler's log",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:  jsii.String(MetricNamespace),
			MetricName: jsii.String("Failures"),
			Period:     awscdk.Duration_Minutes(jsii.Number(15)),
			Statistic:  jsii.String("Sum"),
		}), 1)
}
