package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/devicepass/devicepass/shared/awsx"
)

func callOf(ctx context.Context) awsx.Call {
	return awsx.Call{Service: awsmiddleware.GetServiceID(ctx), Operation: awsmiddleware.GetOperationName(ctx)}
}

// tracer groups the AWS calls of an operation into sequential round trips
// the way awsx.Counter counts them (a call that starts while another is in
// flight shares its round trip), remembering which calls each holds, so
// that the injected latency on the critical path can be added up.
type tracer struct {
	mu       sync.Mutex
	inFlight int
	trips    [][]awsx.Call
}

// Install adds the tracer to cfg's clients.
func (t *tracer) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("benchTracer",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				t.mu.Lock()
				if t.inFlight == 0 {
					t.trips = append(t.trips, nil)
				}
				t.trips[len(t.trips)-1] = append(t.trips[len(t.trips)-1], callOf(ctx))
				t.inFlight++
				t.mu.Unlock()
				defer func() {
					t.mu.Lock()
					t.inFlight--
					t.mu.Unlock()
				}()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
}

// Reset forgets the calls.
func (t *tracer) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trips = nil
}

// Trips returns the round trips, each with its calls.
func (t *tracer) Trips() [][]awsx.Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]awsx.Call, len(t.trips))
	for i, trip := range t.trips {
		out[i] = append([]awsx.Call(nil), trip...)
	}
	return out
}

// floor is the injected latency on the critical path of trips: for each
// round trip, the largest delay among its calls.
func floor(trips [][]awsx.Call) time.Duration {
	var total time.Duration
	for _, trip := range trips {
		var worst time.Duration
		for _, c := range trip {
			worst = max(worst, delays[c.Service])
		}
		total += worst
	}
	return total
}

// path spells the round trips: "DDB → SM → DDB", with concurrent calls
// joined by "+".
func path(trips [][]awsx.Call) string {
	short := map[string]string{awsx.ServiceDynamoDB: "DDB", awsx.ServiceSecretsManager: "SM"}
	s := ""
	for i, trip := range trips {
		if i > 0 {
			s += " → "
		}
		for j, c := range trip {
			if j > 0 {
				s += "+"
			}
			name := short[c.Service]
			if name == "" {
				name = c.Service
			}
			s += name
		}
	}
	return s
}

// attempts records how many attempts (the first and its retries) each AWS
// operation took, from the retry middleware's metadata.
type attempts struct {
	mu     sync.Mutex
	byOp   map[string]map[int]int    // operation, attempts: operations
	causes map[string]map[string]int // operation, error of a retried attempt: count
	failed map[string]int
}

func newAttempts() *attempts {
	return &attempts{byOp: map[string]map[int]int{}, causes: map[string]map[string]int{}, failed: map[string]int{}}
}

// cause names an attempt's error: its AWS error code, or its text.
func cause(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d without an AWS error document", re.HTTPStatusCode())
	}
	return truncate(err.Error(), 120)
}

// Install adds the recorder to cfg's clients.
func (a *attempts) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("benchAttempts",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				n := 1
				res, ok := retry.GetAttemptResults(md)
				if ok && len(res.Results) > 0 {
					n = len(res.Results)
				}
				op := callOf(ctx).Operation
				a.mu.Lock()
				if a.byOp[op] == nil {
					a.byOp[op], a.causes[op] = map[int]int{}, map[string]int{}
				}
				a.byOp[op][n]++
				for _, r := range res.Results {
					if r.Err != nil && r.Retried {
						a.causes[op][cause(r.Err)]++
					}
				}
				if err != nil {
					a.failed[op]++
				}
				a.mu.Unlock()
				return out, md, err
			}), middleware.Before)
	})
}

// Reset forgets what was recorded.
func (a *attempts) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byOp, a.causes, a.failed = map[string]map[int]int{}, map[string]map[string]int{}, map[string]int{}
}

// retryCauses returns "cause: count" for op's retried attempts, most
// frequent first.
func (a *attempts) retryCauses(op string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range a.causes[op] {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	out := make([]string, len(all))
	for i, c := range all {
		out[i] = fmt.Sprintf("%s: %d", c.k, c.n)
	}
	return out
}

// histogram returns, for op, how many operations took each number of
// attempts, in increasing attempts.
func (a *attempts) histogram(op string) (counts [][2]int, failed int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, c := range a.byOp[op] {
		counts = append(counts, [2]int{n, c})
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i][0] < counts[j][0] })
	return counts, a.failed[op]
}

// queryMeter adds up what DynamoDB Queries read: the items they evaluated
// (ScannedCount) and the bytes of their answers.
type queryMeter struct {
	mu           sync.Mutex
	items, bytes int64
}

func (q *queryMeter) Install(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("benchQueryMeter",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if awsmiddleware.GetOperationName(ctx) != "Query" || err != nil {
					return out, md, err
				}
				var n int64
				if res, ok := out.RawResponse.(*smithyhttp.Response); ok {
					n = res.ContentLength
				}
				var scanned int64
				if qo, ok := out.Result.(*dynamodb.QueryOutput); ok {
					scanned = int64(qo.ScannedCount)
				}
				q.mu.Lock()
				q.items += scanned
				q.bytes += n
				q.mu.Unlock()
				return out, md, err
			}), middleware.Before)
	})
}

// Take returns what was read since the last Take and starts over.
func (q *queryMeter) Take() (items, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items, bytes = q.items, q.bytes
	q.items, q.bytes = 0, 0
	return items, bytes
}
