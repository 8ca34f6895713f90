package awsx_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicepass/devicepass/shared/awsx"
)

// endpoint answers every DynamoDB call with an empty JSON object after a
// pause, and counts the requests that reached it.
func endpoint(t *testing.T, pause time.Duration) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(pause)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func config(url string) aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}, nil
		}),
		BaseEndpoint: aws.String(url),
		Retryer:      awsx.NewRetryer,
	}
}

func TestCounterCountsCallsAndRoundTrips(t *testing.T) {
	srv, _ := endpoint(t, 20*time.Millisecond)
	cfg := config(srv.URL)
	c := &awsx.Counter{}
	c.Install(&cfg)
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	ctx := context.Background()

	// Two sequential calls, then three concurrent ones: 5 calls, 3 round trips.
	for range 2 {
		if _, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _ = ddb.DescribeLimits(ctx, &dynamodb.DescribeLimitsInput{})
		}()
	}
	close(start)
	wg.Wait()

	if got := c.Count(awsx.ServiceDynamoDB); got != 5 {
		t.Errorf("Count = %d, want 5 (%v)", got, c.Summary())
	}
	if got := c.RoundTrips(); got != 3 {
		t.Errorf("RoundTrips = %d, want 3", got)
	}
	if got := c.Summary(); len(got) != 2 || got[0] != "DynamoDB.DescribeLimits×3" || got[1] != "DynamoDB.ListTables×2" {
		t.Errorf("Summary = %v", got)
	}
	c.Reset()
	if c.Count("") != 0 || c.RoundTrips() != 0 {
		t.Error("Reset kept counts")
	}
}

func TestFaultsStrikeTheNthCallOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     awsx.FaultMode
		wantHits int32 // requests that reached the endpoint over three calls
	}{
		{"before: the failed call is never sent", awsx.FailBefore, 2},
		{"after: the failed call was applied", awsx.FailAfter, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := endpoint(t, 0)
			cfg := config(srv.URL)
			f := &awsx.Faults{}
			f.Install(&cfg)
			ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
			f.Arm(2, tc.mode)
			var errs []error
			for range 3 {
				_, err := ddb.ListTables(context.Background(), &dynamodb.ListTablesInput{})
				errs = append(errs, err)
			}
			if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], awsx.ErrInjected) {
				t.Errorf("errors = %v, want only the second call to fail with ErrInjected", errs)
			}
			if got := hits.Load(); got != tc.wantHits {
				t.Errorf("%d requests reached the endpoint, want %d (the injected error must not be retried)", got, tc.wantHits)
			}
			if call, ok := f.Hit(); !ok || call.Operation != "ListTables" || call.Service != awsx.ServiceDynamoDB {
				t.Errorf("Hit = %v, %v", call, ok)
			}
		})
	}
}

func TestSecretsManagerWrite(t *testing.T) {
	for op, want := range map[string]bool{
		"PutSecretValue": true, "UpdateSecretVersionStage": true, "CreateSecret": true, "RotateSecret": true,
		"DeleteSecret": true, "UpdateSecret": true, "TagResource": true,
		"GetSecretValue": false, "BatchGetSecretValue": false, "DescribeSecret": false, "ListSecrets": false, "ListSecretVersionIds": false,
	} {
		if got := (awsx.Call{Service: awsx.ServiceSecretsManager, Operation: op}).SecretsManagerWrite(); got != want {
			t.Errorf("%s: write = %v, want %v", op, got, want)
		}
	}
	if (awsx.Call{Service: awsx.ServiceDynamoDB, Operation: "PutItem"}).SecretsManagerWrite() {
		t.Error("a DynamoDB write counted as a Secrets Manager write")
	}
}
