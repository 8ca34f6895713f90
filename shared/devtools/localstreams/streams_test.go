package localstreams_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/devicepass/devicepass/shared/devtools/localstreams"
	"github.com/devicepass/devicepass/shared/stream"
)

// fakeStreams is a stream of shards in memory. Iterators are
// "<shard>:<position>"; a closed shard's last page has no next iterator.
type fakeStreams struct {
	mu      sync.Mutex
	order   []string
	shards  map[string]*fakeShard
	trimmed int // GetRecords calls to answer TrimmedDataAccessException
	seq     int
}

type fakeShard struct {
	parent  string
	records []streamtypes.Record
	closed  bool
}

func newFakeStreams() *fakeStreams { return &fakeStreams{shards: map[string]*fakeShard{}} }

func (f *fakeStreams) addShard(id, parent string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.order = append(f.order, id)
	f.shards[id] = &fakeShard{parent: parent}
}

func (f *fakeStreams) put(shard string, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.seq++
		f.shards[shard].records = append(f.shards[shard].records, streamtypes.Record{
			EventID: aws.String(id), EventName: streamtypes.OperationTypeInsert,
			Dynamodb: &streamtypes.StreamRecord{SequenceNumber: aws.String(fmt.Sprintf("%021d", f.seq))},
		})
	}
}

func (f *fakeStreams) close(shard string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shards[shard].closed = true
}

func (f *fakeStreams) DescribeStream(_ context.Context, _ *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []streamtypes.Shard
	for _, id := range f.order {
		sh := f.shards[id]
		r := &streamtypes.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}
		if sh.closed {
			r.EndingSequenceNumber = aws.String("9")
		}
		s := streamtypes.Shard{ShardId: aws.String(id), SequenceNumberRange: r}
		if sh.parent != "" {
			s.ParentShardId = aws.String(sh.parent)
		}
		out = append(out, s)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: &streamtypes.StreamDescription{Shards: out}}, nil
}

func (f *fakeStreams) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sh := f.shards[*in.ShardId]
	pos := 0
	switch in.ShardIteratorType {
	case streamtypes.ShardIteratorTypeLatest:
		pos = len(sh.records)
	case streamtypes.ShardIteratorTypeAfterSequenceNumber:
		for i, r := range sh.records {
			if *r.Dynamodb.SequenceNumber == *in.SequenceNumber {
				pos = i + 1
			}
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(*in.ShardId + ":" + strconv.Itoa(pos))}, nil
}

func (f *fakeStreams) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.trimmed > 0 {
		f.trimmed--
		return nil, &streamtypes.TrimmedDataAccessException{Message: aws.String("trimmed")}
	}
	id, p, _ := strings.Cut(*in.ShardIterator, ":")
	pos, _ := strconv.Atoi(p)
	sh := f.shards[id]
	out := &dynamodbstreams.GetRecordsOutput{Records: append([]streamtypes.Record(nil), sh.records[pos:]...)}
	if !sh.closed {
		out.NextShardIterator = aws.String(id + ":" + strconv.Itoa(len(sh.records)))
	}
	return out, nil
}

// recorder is a RecordHandler that fails chosen records a number of times.
type recorder struct {
	handled []string
	fail    map[string]int // event id -> failures left
}

func (r *recorder) HandleRecords(_ context.Context, recs []stream.Record) (int, error) {
	for i, rec := range recs {
		if r.fail[rec.EventID] > 0 {
			r.fail[rec.EventID]--
			return i, errors.New("injected")
		}
		r.handled = append(r.handled, rec.EventID)
	}
	return len(recs), nil
}

func newPoller(t *testing.T, api *fakeStreams, h *recorder) *localstreams.StreamPoller {
	t.Helper()
	p, err := localstreams.NewStreamPoller(localstreams.StreamPollerOptions{Streams: api, StreamARN: "arn:stream", Handler: h, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

func poll(t *testing.T, p *localstreams.StreamPoller, times int) {
	t.Helper()
	for range times {
		_, _ = p.Poll(context.Background())
	}
}

func TestStreamPollerStartsAtTheEnd(t *testing.T) {
	t.Parallel()
	api := newFakeStreams()
	api.addShard("s1", "")
	api.put("s1", "before")
	h := &recorder{}
	p := newPoller(t, api, h)
	api.put("s1", "a", "b")
	if n, err := p.Poll(context.Background()); err != nil || n != 2 {
		t.Fatalf("Poll = %d, %v; want 2 records", n, err)
	}
	api.put("s1", "c")
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(h.handled, ","); got != "a,b,c" {
		t.Errorf("handled %s, want a,b,c (none from before Start, none twice)", got)
	}
}

// DynamoDB Local's sequence numbers are shared by its tables, and it calls
// an iterator made on an empty shard "trimmed" once other tables have
// moved the numbers on; the poller starts that shard over, within the poll.
func TestStreamPollerRecoversFromATrimmedIterator(t *testing.T) {
	t.Parallel()
	api := newFakeStreams()
	api.addShard("s1", "")
	h := &recorder{}
	p := newPoller(t, api, h)
	api.put("s1", "a", "b")
	api.trimmed = 1
	if n, err := p.Poll(context.Background()); err != nil || n != 2 {
		t.Fatalf("Poll = %d, %v; want 2 records", n, err)
	}
	api.put("s1", "c")
	api.trimmed = 1 // now after a record handed over: go on after it
	if n, err := p.Poll(context.Background()); err != nil || n != 1 {
		t.Fatalf("Poll = %d, %v; want 1 record", n, err)
	}
	if got := strings.Join(h.handled, ","); got != "a,b,c" {
		t.Errorf("handled %s, want a,b,c", got)
	}
}

func TestStreamPollerRetriesFromTheFailedRecord(t *testing.T) {
	t.Parallel()
	api := newFakeStreams()
	api.addShard("s1", "")
	h := &recorder{fail: map[string]int{"b": 2, "d": 100}}
	p := newPoller(t, api, h)
	api.put("s1", "a", "b", "c")
	if _, err := p.Poll(context.Background()); err == nil {
		t.Fatal("Poll hid the handler's failure")
	}
	poll(t, p, 3)
	if got := strings.Join(h.handled, ","); got != "a,b,c" {
		t.Errorf("handled %s, want a,b,c: each once, in order", got)
	}
	// A record that never succeeds is given up after a few attempts, as the
	// event source mapping's retry limit does, and the next ones go on.
	api.put("s1", "d", "e")
	poll(t, p, 8)
	if got := strings.Join(h.handled, ","); got != "a,b,c,e" {
		t.Errorf("handled %s, want a,b,c,e", got)
	}
}

func TestStreamPollerReadsChildrenAfterTheirParent(t *testing.T) {
	t.Parallel()
	api := newFakeStreams()
	api.addShard("parent", "")
	h := &recorder{}
	p := newPoller(t, api, h)
	api.put("parent", "p1")
	api.addShard("child", "parent")
	api.put("child", "c1")
	poll(t, p, 2)
	if got := strings.Join(h.handled, ","); got != "p1" {
		t.Fatalf("handled %s while the parent is open, want p1 only", got)
	}
	api.put("parent", "p2")
	api.close("parent")
	poll(t, p, 3)
	if got := strings.Join(h.handled, ","); got != "p1,p2,c1" {
		t.Errorf("handled %s, want the parent's records before the child's", got)
	}
}

func TestNewStreamPollerRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	if _, err := localstreams.NewStreamPoller(localstreams.StreamPollerOptions{StreamARN: "arn", Handler: &recorder{}, Logger: slog.Default()}); err == nil {
		t.Error("NewStreamPoller without a streams client succeeded")
	}
}
