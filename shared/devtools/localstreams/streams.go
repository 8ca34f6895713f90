package localstreams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/devicepass/devicepass/shared/stream"
)

// DefaultStreamInterval is how often the stream poller reads the stream.
const DefaultStreamInterval = 500 * time.Millisecond

// maxRecordAttempts is how often the poller hands a failing record over
// before it gives up on it, as the event source mapping's maximum retry
// attempts would (on AWS it would then go to the on-failure destination).
const maxRecordAttempts = 5

// StreamsAPI is the part of the DynamoDB Streams client the poller calls.
type StreamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// RecordHandler processes stream records in order; stream.Handler is one.
type RecordHandler interface {
	HandleRecords(ctx context.Context, recs []stream.Record) (done int, err error)
}

var _ RecordHandler = (*stream.Handler)(nil)

// StreamPoller is the local stand-in for Lambda's event source mapping on
// the table's stream: it reads DynamoDB Local's stream shard by shard and
// hands the records to the stream handler in order, retrying from a
// failed record as the mapping does.
type StreamPoller struct {
	api      StreamsAPI
	arn      string
	handler  RecordHandler
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex // one Poll at a time
	shards map[string]*shard
	closed map[string]bool // shards read to their end
}

type shard struct {
	id, parent string
	iter       *string
	lastSeq    string
	pending    []stream.Record // records to hand over again, oldest first
	attempts   int
}

// StreamPollerOptions configure NewStreamPoller.
type StreamPollerOptions struct {
	Streams   StreamsAPI
	StreamARN string
	Handler   RecordHandler
	Logger    *slog.Logger
	Interval  time.Duration // Run's period; default DefaultStreamInterval
}

// NewStreamPoller returns a poller; Start positions it.
func NewStreamPoller(o StreamPollerOptions) (*StreamPoller, error) {
	if o.Streams == nil || o.StreamARN == "" || o.Handler == nil || o.Logger == nil {
		return nil, errors.New("localstreams: NewStreamPoller needs a streams client, a stream ARN, a handler and a logger")
	}
	if o.Interval == 0 {
		o.Interval = DefaultStreamInterval
	}
	if o.Interval < 0 {
		return nil, fmt.Errorf("localstreams: stream interval %s is negative", o.Interval)
	}
	return &StreamPoller{api: o.Streams, arn: o.StreamARN, handler: o.Handler, log: o.Logger, interval: o.Interval,
		shards: map[string]*shard{}, closed: map[string]bool{}}, nil
}

// Start positions the poller at the end of every shard open now (LATEST),
// so that it hands over exactly the changes made after Start returns.
// Shards that appear later are read from their beginning.
func (p *StreamPoller) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	shards, err := p.describe(ctx)
	if err != nil {
		return err
	}
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			p.closed[aws.ToString(s.ShardId)] = true // nothing new will come from it
			continue
		}
		sh := &shard{id: aws.ToString(s.ShardId), parent: aws.ToString(s.ParentShardId)}
		if err := p.position(ctx, sh, streamtypes.ShardIteratorTypeLatest); err != nil {
			return err
		}
		p.shards[sh.id] = sh
	}
	return nil
}

// Run polls every interval until ctx ends.
func (p *StreamPoller) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.Poll(ctx); err != nil && ctx.Err() == nil {
				p.log.ErrorContext(ctx, "local stream poll failed; retrying", "error", err.Error())
			}
		}
	}
}

// Poll reads every shard once and hands what it read to the handler. It
// returns how many records the handler finished.
func (p *StreamPoller) Poll(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.discover(ctx); err != nil {
		return 0, err
	}
	ids := make([]string, 0, len(p.shards))
	for id := range p.shards {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	total := 0
	var errs []error
	for _, id := range ids {
		sh := p.shards[id]
		if sh.parent != "" && !p.closed[sh.parent] {
			if _, reading := p.shards[sh.parent]; reading {
				continue // a child waits until its parent is read to the end
			}
		}
		n, err := p.readShard(ctx, sh)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// Flush polls until a poll finds nothing more to hand over, so that every
// change made before Flush was called (and every change the handler made
// in turn) has been handled. For tests.
func (p *StreamPoller) Flush(ctx context.Context) error {
	for {
		n, err := p.Poll(ctx)
		if err != nil {
			return err
		}
		if n == 0 && !p.hasPending() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func (p *StreamPoller) hasPending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, sh := range p.shards {
		if len(sh.pending) > 0 {
			return true
		}
	}
	return false
}

// readShard hands over the shard's pending records, or reads new ones.
func (p *StreamPoller) readShard(ctx context.Context, sh *shard) (int, error) {
	if len(sh.pending) > 0 {
		return p.hand(ctx, sh)
	}
	if sh.iter == nil {
		p.finish(sh)
		return 0, nil
	}
	out, err := p.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iter})
	for attempt := 0; err != nil && attempt < 2; attempt++ {
		// An expired iterator, or one DynamoDB Local calls trimmed: its
		// sequence numbers are shared by all tables, and an iterator made
		// on an empty shard may point before the shard's first record. Go
		// on after the last record handed over, else from the shard's
		// start: the shard was empty when positioned (on AWS, trimmed
		// means the records are gone anyway).
		var expired *streamtypes.ExpiredIteratorException
		var trimmed *streamtypes.TrimmedDataAccessException
		if !errors.As(err, &expired) && !errors.As(err, &trimmed) {
			break
		}
		typ := streamtypes.ShardIteratorTypeAfterSequenceNumber
		if sh.lastSeq == "" || attempt > 0 {
			typ = streamtypes.ShardIteratorTypeTrimHorizon
		}
		if perr := p.position(ctx, sh, typ); perr != nil {
			return 0, perr
		}
		out, err = p.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: sh.iter})
	}
	if err != nil {
		return 0, fmt.Errorf("read shard %s: %w", sh.id, err)
	}
	sh.iter = out.NextShardIterator
	for _, r := range out.Records {
		rec, err := FromStreams(r)
		if err != nil {
			p.log.ErrorContext(ctx, "unreadable stream record skipped", "shard", sh.id, "error", err.Error())
			continue
		}
		sh.pending = append(sh.pending, rec)
		sh.lastSeq = rec.SequenceNumber
	}
	if len(sh.pending) == 0 {
		if sh.iter == nil {
			p.finish(sh)
		}
		return 0, nil
	}
	return p.hand(ctx, sh)
}

// hand gives the shard's pending records to the handler and keeps those
// from the first failure on for the next poll.
func (p *StreamPoller) hand(ctx context.Context, sh *shard) (int, error) {
	done, err := p.handler.HandleRecords(ctx, sh.pending)
	sh.pending = sh.pending[done:]
	if done > 0 {
		sh.attempts = 0
	}
	if err == nil {
		sh.pending = nil
		return done, nil
	}
	sh.attempts++
	if sh.attempts >= maxRecordAttempts {
		r := sh.pending[0]
		p.log.ErrorContext(ctx, "stream record failed too often; skipped (on AWS: the on-failure destination)",
			"shard", sh.id, "event_id", r.EventID, "sequence", r.SequenceNumber, "attempts", sh.attempts, "error", err.Error())
		sh.pending, sh.attempts = sh.pending[1:], 0
	}
	return done, err
}

func (p *StreamPoller) finish(sh *shard) {
	if len(sh.pending) == 0 {
		p.closed[sh.id] = true
		delete(p.shards, sh.id)
	}
}

// discover starts reading shards that appeared since the last poll, from
// their beginning.
func (p *StreamPoller) discover(ctx context.Context) error {
	shards, err := p.describe(ctx)
	if err != nil {
		return err
	}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if _, ok := p.shards[id]; ok || p.closed[id] {
			continue
		}
		sh := &shard{id: id, parent: aws.ToString(s.ParentShardId)}
		if err := p.position(ctx, sh, streamtypes.ShardIteratorTypeTrimHorizon); err != nil {
			return err
		}
		p.shards[id] = sh
	}
	return nil
}

func (p *StreamPoller) describe(ctx context.Context) ([]streamtypes.Shard, error) {
	var shards []streamtypes.Shard
	var start *string
	for {
		out, err := p.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &p.arn, ExclusiveStartShardId: start})
		if err != nil {
			return nil, fmt.Errorf("describe stream: %w", err)
		}
		shards = append(shards, out.StreamDescription.Shards...)
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return shards, nil
		}
	}
}

func (p *StreamPoller) position(ctx context.Context, sh *shard, typ streamtypes.ShardIteratorType) error {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &p.arn, ShardId: &sh.id, ShardIteratorType: typ}
	if typ == streamtypes.ShardIteratorTypeAfterSequenceNumber {
		in.SequenceNumber = &sh.lastSeq
	}
	out, err := p.api.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("shard iterator of %s: %w", sh.id, err)
	}
	sh.iter = out.ShardIterator
	return nil
}
