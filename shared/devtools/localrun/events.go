package localrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/localstreams"
	"github.com/devicepass/devicepass/shared/dynamo"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/secrets"
)

// provisionEvents creates the event bus and the notice topic in moto, as
// the CDK stack does in AWS, and returns the topic's ARN.
func provisionEvents(ctx context.Context, cfg aws.Config) (string, error) {
	_, err := eventbridge.NewFromConfig(cfg).CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(EventBusName)})
	var exists *ebtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return "", fmt.Errorf("create the event bus %s: %w", EventBusName, err)
	}
	out, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(NoticeTopicName)})
	if err != nil {
		return "", fmt.Errorf("create the notice topic %s: %w", NoticeTopicName, err)
	}
	return aws.ToString(out.TopicArn), nil
}

// disableTTL turns TTL off on the local table. DynamoDB Local 3.3.1 runs
// a TTL job of its own, now and then, that deletes expired items directly,
// without a stream record (AWS's TTL deletions are in the stream, with the
// TTL service's identity): a temporary device would vanish unannounced,
// its secret kept and its mailbox still counting it. Without TTL the sweep
// expires devices locally, as it backs TTL up on AWS.
func disableTTL(ctx context.Context, ddb *dynamodb.Client, table string) error {
	_, err := ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(false)},
	})
	if err != nil {
		return fmt.Errorf("turn DynamoDB Local's TTL off on %s: %w", table, err)
	}
	return nil
}

// wireStream builds the stream handler, with the event file as its sink,
// and the poller that feeds it from DynamoDB Local's stream, positioned at
// the stream's end.
func (r *Runner) wireStream(ctx context.Context, o Options, streamARN string) error {
	if streamARN == "" {
		return errors.New("the table has no stream")
	}
	path := filepath.Join(o.StateDir, EventsFileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil { // a new run, a new (empty) table
		return fmt.Errorf("empty %s: %w", path, err)
	}
	var err error
	if r.sink, err = localstreams.NewFileSink(path); err != nil {
		return err
	}
	if r.streamHandler, err = app.NewStreamHandler(r.app, r.awsCfg, r.sink); err != nil {
		return fmt.Errorf("wire the stream handler: %w", err)
	}
	r.poller, err = localstreams.NewStreamPoller(localstreams.StreamPollerOptions{
		Streams: dynamodbstreams.NewFromConfig(r.awsCfg), StreamARN: streamARN,
		Handler: r.streamHandler, Logger: o.Logger,
	})
	if err != nil {
		return err
	}
	return r.poller.Start(ctx)
}

// SweepNow runs the sweep once, as the scheduled sweep Lambda does: the
// expiry part, then the policy part (inactivity, reminders).
func (r *Runner) SweepNow(ctx context.Context) (lifecycle.SweepReport, error) {
	rep, err := lifecycle.Sweep(ctx, r.app.Service, r.log)
	_, perr := lifecycle.PolicySweep(ctx, r.app.Hygiene, r.log)
	return rep, errors.Join(err, perr)
}

// ReconcileNow runs the reconciler once, as its scheduled Lambda does, and
// logs its report.
func (r *Runner) ReconcileNow(ctx context.Context) (device.ReconcileReport, error) {
	return r.ReconcileOlderThan(ctx, ReconcileMinAge)
}

// ReconcileOlderThan runs the reconciler once, repairing leftovers older
// than minAge: tests repair a leftover at once with 0 instead of waiting
// out ReconcileMinAge.
func (r *Runner) ReconcileOlderThan(ctx context.Context, minAge time.Duration) (device.ReconcileReport, error) {
	lister, err := secrets.NewLister(r.app.SecretsManager)
	if err != nil {
		return device.ReconcileReport{}, err
	}
	scanner, err := dynamo.NewSliceScanner(r.app.DynamoDB, r.app.Config.TableName)
	if err != nil {
		return device.ReconcileReport{}, err
	}
	cp, err := dynamo.NewCheckpoint(r.app.DynamoDB, r.app.Config.TableName)
	if err != nil {
		return device.ReconcileReport{}, err
	}
	// A whole pass, from the checkpoint, as a run with time to spare does.
	sliced, err := r.app.Service.ReconcileSliced(ctx, lister, scanner, cp, minAge, time.Time{}, time.Now)
	rep := sliced.ReconcileReport
	if err != nil {
		if ctx.Err() == nil {
			r.log.ErrorContext(ctx, "reconciler failed; it runs again later", "error", err.Error())
		}
		return rep, err
	}
	r.log.InfoContext(ctx, "reconciler report", "secrets", rep.Secrets, "devices", rep.Devices,
		"orphan_secrets_deleted", rep.OrphanSecretsDeleted, "ended_secrets_deleted", rep.EndedSecretsDeleted,
		"rotations_finished", rep.RotationsFinished, "pending_cleared", rep.PendingCleared,
		"devices_without_secret", rep.DevicesWithoutSecret, "schedules_repaired", rep.SchedulesRepaired,
		"descriptions_repaired", rep.DescriptionsRepaired, "failures", rep.Failures)
	return rep, nil
}

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}
