package stream_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/devicepass/devicepass/shared/awsx"
	"github.com/devicepass/devicepass/shared/config"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/devtools/devclock"
	"github.com/devicepass/devicepass/shared/devtools/localstreams"
	"github.com/devicepass/devicepass/shared/devtools/logbuf"
	"github.com/devicepass/devicepass/shared/devtools/standins"
	"github.com/devicepass/devicepass/shared/devtools/standins/standinstest"
	"github.com/devicepass/devicepass/shared/lifecycle"
	"github.com/devicepass/devicepass/shared/stream"
)

// stack is the package's one pair of stand-ins.
var stack *standins.Stack

func TestMain(m *testing.M) {
	standinstest.Main(m, func(s *standins.Stack) { stack = s })
}

// env is one test's world on the stand-ins: its own table (with its
// stream), verifier key, event bus with a rule delivering to an SQS queue,
// notice topic with an SQS subscription, and the stream handler wired as
// the stream Lambda is, fed by the local runner's poller.
type env struct {
	app      *app.App
	handler  *stream.Handler
	poller   *localstreams.StreamPoller
	sinkPath string
	logs     *logbuf.Buffer
	faults   *awsx.Faults // on the EventBridge and SNS clients only
	cfg      aws.Config
	table    string
	arn      string // the table's stream
	busQueue string // receives the bus's events
	noticeQ  string // receives the topic's notices
	sqs      *sqsClient
	domain   string
	clock    *devclock.Clock // the service's: tests step past expiries instead of sleeping
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := standins.AWSConfig(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Retryer = awsx.NewRetryer
	id := randomHex(4)
	e := &env{cfg: cfg, table: "devicepass-stream-" + id, logs: &logbuf.Buffer{}, faults: &awsx.Faults{}, domain: "s" + id + ".example.com", clock: &devclock.Clock{}}
	e.sqs = &sqsClient{endpoint: stack.MotoEndpoint, creds: cfg.Credentials, region: cfg.Region}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the log:\n%s", e.logs.Tail(40))
		}
	})
	keyID := "devicepass-stream-test/" + id + "/verifier-key"
	if e.arn, err = app.Provision(ctx, cfg, e.table, keyID); err != nil {
		t.Fatal(err)
	}
	// DynamoDB Local's own TTL job deletes expired items now and then
	// without a stream record (AWS's TTL lags for hours and its deletions
	// are in the stream); off, as in the local runner, so that the tests
	// meet TTL only through the removal records they hand over.
	if _, err := dynamodb.NewFromConfig(cfg, standins.DynamoOptions).UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &e.table, TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(false)},
	}); err != nil {
		t.Fatal(err)
	}

	bus, topicName := "devicepass-"+id, "devicepass-notices-"+id
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &bus}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: &topicName})
	if err != nil {
		t.Fatal(err)
	}
	var busARN, noticeARN string
	e.busQueue, busARN = e.sqs.createQueue(t, "bus-"+id)
	e.noticeQ, noticeARN = e.sqs.createQueue(t, "notices-"+id)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("all"), EventBusName: &bus, EventPattern: aws.String(`{"source":["devicepass"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("all"), EventBusName: &bus, Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: &busARN}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: &noticeARN}); err != nil {
		t.Fatal(err)
	}

	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := config.Config{TableName: e.table, VerifierKeySecretID: keyID, AuditRetentionDays: 30, EventBusName: bus, NoticeTopicARN: aws.ToString(topic.TopicArn), LogLevel: "debug"}
	if e.app, err = app.Build(ctx, c, cfg, logger, app.Options{Local: true, Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	faulty := cfg.Copy()
	e.faults.Install(&faulty)
	e.sinkPath = filepath.Join(t.TempDir(), "events.jsonl")
	sink, err := localstreams.NewFileSink(e.sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	if e.handler, err = app.NewStreamHandler(e.app, faulty, sink); err != nil {
		t.Fatal(err)
	}
	e.poller, err = localstreams.NewStreamPoller(localstreams.StreamPollerOptions{Streams: dynamodbstreams.NewFromConfig(cfg), StreamARN: e.arn, Handler: e.handler, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.poller.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// flush hands every change made so far to the handler.
func (e *env) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.poller.Flush(ctx); err != nil {
		t.Fatalf("flush the stream: %v\n%s", err, e.logs.Tail(20))
	}
}

// sinkEvents reads the local sink's events.
func (e *env) sinkEvents(t *testing.T) []lifecycle.Event {
	t.Helper()
	f, err := os.Open(e.sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []lifecycle.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev lifecycle.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("sink line %q is not an event: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// audit reads a mailbox's whole audit trail, page by page.
func (e *env) audit(t *testing.T, mailbox string) []lifecycle.Event {
	t.Helper()
	var out []lifecycle.Event
	for cursor := ""; ; {
		evs, next, err := e.app.Store.ListAudit(context.Background(), mailbox, cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// auditItems returns every audit item of the table, raw.
func (e *env) auditItems(t *testing.T) []map[string]types.AttributeValue {
	t.Helper()
	out, err := e.app.DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{
		TableName: &e.table, FilterExpression: aws.String("kind = :a"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: "audit"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Items
}

// streamRecords reads the table's whole stream from its beginning.
func (e *env) streamRecords(t *testing.T) []stream.Record {
	t.Helper()
	ctx := context.Background()
	api := dynamodbstreams.NewFromConfig(e.cfg)
	d, err := api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &e.arn})
	if err != nil {
		t.Fatal(err)
	}
	var out []stream.Record
	for _, sh := range d.StreamDescription.Shards {
		it, err := api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &e.arn, ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			page, err := api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) == 0 {
				break // an open shard: nothing more for now
			}
			for _, r := range page.Records {
				rec, err := localstreams.FromStreams(r)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, rec)
			}
			iter = page.NextShardIterator
		}
	}
	return out
}

// secretDeleted reports whether a secret is scheduled for deletion.
func (e *env) secretDeleted(t *testing.T, arn string) bool {
	t.Helper()
	out, err := e.app.SecretsManager.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &arn})
	if err != nil {
		t.Fatal(err)
	}
	return out.DeletedDate != nil
}

func (e *env) admin() device.Caller {
	return device.Caller{Subject: "admin-" + e.domain, Groups: []string{"domain-admin:" + e.domain}, AuthTime: time.Now(), SourceIP: "198.51.100.7", UserAgent: "stream-test/1", RequestID: "req-admin"}
}

func user(sub string) device.Caller {
	return device.Caller{Subject: sub, AuthTime: time.Now(), SourceIP: "203.0.113.9", UserAgent: "stream-test/1", RequestID: "req-" + sub}
}

// toLambda converts a record to the Lambda event's shape (the inverse of
// stream.FromLambda), so tests can hand real records to Handle.
func toLambda(r stream.Record, identity *events.DynamoDBUserIdentity) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{
		AWSRegion: standins.Region, EventID: r.EventID, EventName: r.EventName, EventSource: "aws:dynamodb", EventVersion: "1.1",
		UserIdentity: identity,
		Change: events.DynamoDBStreamRecord{
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: r.Time},
			Keys:                        toLambdaMap(r.Keys), OldImage: toLambdaMap(r.Old), NewImage: toLambdaMap(r.New),
			SequenceNumber: r.SequenceNumber, StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}

func toLambdaMap(m map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = toLambdaValue(v)
	}
	return out
}

func toLambdaValue(v types.AttributeValue) events.DynamoDBAttributeValue {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(x.Value)
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(x.Value)
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(x.Value)
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(x.Value)
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(x.Value)
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(x.Value)
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(x.Value)
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = toLambdaValue(e)
		}
		return events.NewListAttribute(l)
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(toLambdaMap(x.Value))
	}
	panic(fmt.Sprintf("unexpected attribute value %T", v))
}

// sqsClient is the little of SQS the tests need to read what moto's
// EventBridge rule and SNS subscription deliver (the repository does not
// depend on the SQS SDK): signed requests in SQS's JSON protocol.
type sqsClient struct {
	endpoint string
	creds    aws.CredentialsProvider
	region   string
}

func (c *sqsClient) call(t *testing.T, op string, in, out any) {
	t.Helper()
	ctx := context.Background()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sqs", c.region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("SQS %s: %v", op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SQS %s: %d %s", op, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("SQS %s: %v in %s", op, err, b)
		}
	}
}

// createQueue returns a new queue's URL and ARN.
func (c *sqsClient) createQueue(t *testing.T, name string) (string, string) {
	t.Helper()
	var q struct{ QueueUrl string }
	c.call(t, "CreateQueue", map[string]any{"QueueName": name}, &q)
	var a struct{ Attributes map[string]string }
	c.call(t, "GetQueueAttributes", map[string]any{"QueueUrl": q.QueueUrl, "AttributeNames": []string{"QueueArn"}}, &a)
	if q.QueueUrl == "" || a.Attributes["QueueArn"] == "" {
		t.Fatalf("queue %s: no URL or ARN", name)
	}
	return q.QueueUrl, a.Attributes["QueueArn"]
}

// receiveAll returns the bodies of every message the queue holds now.
func (c *sqsClient) receiveAll(t *testing.T, url string) []string {
	t.Helper()
	var bodies []string
	for {
		var out struct {
			Messages []struct{ Body, ReceiptHandle string }
		}
		c.call(t, "ReceiveMessage", map[string]any{"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 600}, &out)
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, m.Body)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
