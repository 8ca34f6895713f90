package stack_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/infra/stack"
	"github.com/devicepass/devicepass/shared/apigw"
	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/devtools/app"
	"github.com/devicepass/devicepass/shared/dynamo"
)

// The stack and the code agree on the contracts between them: the routes
// API Gateway sends to the functions, and the table's keys and index.

// TestRoutesMatchTheRouter: the stack creates every route of the
// document's route table, the ones the api function dispatches on its
// function and the verify route on its own, and throttles every route that
// makes a device, a password or a token as a create.
func TestRoutesMatchTheRouter(t *testing.T) {
	var router, infra, all []string
	for _, r := range apigw.Routes {
		router = append(router, r.Key())
	}
	for _, r := range stack.UserRoutes {
		infra = append(infra, r.Key())
	}
	for _, r := range api.Routes {
		all = append(all, r.Key())
	}
	slices.Sort(router)
	slices.Sort(infra)
	if !slices.Equal(router, infra) {
		t.Errorf("the stack's user routes\n%v\nthe api function's router\n%v", infra, router)
	}
	if got, want := stack.VerifyRoute.Key(), apigw.VerifyRoute.Key(); got != want {
		t.Errorf("verify route %s, router %s", got, want)
	}
	if got, want := stack.CredentialRoute.Key(), apigw.CredentialRoute.Key(); got != want {
		t.Errorf("credential route %s, router %s", got, want)
	}
	if got := append(slices.Clone(infra), stack.VerifyRoute.Key(), stack.CredentialRoute.Key()); len(got) != len(all) {
		t.Errorf("the stack creates %v, the document has %v", got, all)
	}
	// A route that needs a recent login makes a device, a password or a
	// token, or revokes everything: it gets the tighter throttle. Two
	// step-up routes only change metadata and keep the ordinary one:
	// registering a mailbox (administrators register in bulk) and PATCH,
	// which must stay quick for disabling a device in a hurry.
	create := map[string]bool{}
	for _, r := range stack.UserRoutes {
		create[r.Key()] = r.Create
	}
	metadataOnly := map[string]bool{api.OpPutMailbox: true, api.OpUpdateDevice: true}
	for _, r := range apigw.Routes {
		if r.StepUp && !create[r.Key()] && !metadataOnly[r.Operation] {
			t.Errorf("%s needs a recent login but is not throttled as a create route", r.Key())
		}
	}
	for _, key := range []string{"POST /v1/mailboxes/{address}/enrollments", "POST /v1/enrollments/{token}/device"} {
		if !create[key] {
			t.Errorf("%s makes a token or a password but is not throttled as a create route", key)
		}
	}
}

// tableRecorder records the table shared/dynamo creates for local runs.
type tableRecorder struct{ in *dynamodb.CreateTableInput }

func (r *tableRecorder) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	r.in = in
	return &dynamodb.CreateTableOutput{}, nil
}

func (r *tableRecorder) DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{TableStatus: types.TableStatusActive, LatestStreamArn: aws.String("arn:stream")}}, nil
}

func (r *tableRecorder) UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	return &dynamodb.UpdateTimeToLiveOutput{}, nil
}

// TestTableMatchesLocalSchema compares the synthesized table with the one
// shared/dynamo.CreateTable makes for DynamoDB Local: the same keys, the
// same attribute types, the same expiring index (name, keys, projection)
// and the same stream view, so the sweep's Query works the same in both.
func TestTableMatchesLocalSchema(t *testing.T) {
	rec := &tableRecorder{}
	if _, err := dynamo.CreateTable(context.Background(), rec, "t"); err != nil {
		t.Fatal(err)
	}
	local := rec.in
	if stack.ExpiringIndex != dynamo.ExpiringIndex {
		t.Errorf("index name %q, shared/dynamo %q", stack.ExpiringIndex, dynamo.ExpiringIndex)
	}
	if stack.EnrollmentsIndex != dynamo.EnrollmentsIndex {
		t.Errorf("enrollments index %q, shared/dynamo %q", stack.EnrollmentsIndex, dynamo.EnrollmentsIndex)
	}
	if stack.ByOwnerIndex != dynamo.ByOwnerIndex || stack.ByDomainIndex != dynamo.ByDomainIndex {
		t.Errorf("mailbox index names %q %q, shared/dynamo %q %q", stack.ByOwnerIndex, stack.ByDomainIndex, dynamo.ByOwnerIndex, dynamo.ByDomainIndex)
	}
	if stack.ReconcileIndex != dynamo.ReconcileIndex {
		t.Errorf("index name %q, shared/dynamo %q", stack.ReconcileIndex, dynamo.ReconcileIndex)
	}
	if stack.DomainIndex != dynamo.DomainIndex {
		t.Errorf("index name %q, shared/dynamo %q", stack.DomainIndex, dynamo.DomainIndex)
	}
	keys := func(ks []types.KeySchemaElement) []any {
		var out []any
		for _, k := range ks {
			out = append(out, map[string]any{"AttributeName": aws.ToString(k.AttributeName), "KeyType": string(k.KeyType)})
		}
		return out
	}
	var attrs []any
	for _, a := range local.AttributeDefinitions {
		attrs = append(attrs, map[string]any{"AttributeName": aws.ToString(a.AttributeName), "AttributeType": string(a.AttributeType)})
	}
	var gsis []any
	for _, g := range local.GlobalSecondaryIndexes {
		gsis = append(gsis, map[string]any{
			"IndexName":  aws.ToString(g.IndexName),
			"KeySchema":  keys(g.KeySchema),
			"Projection": map[string]any{"ProjectionType": string(g.Projection.ProjectionType)},
		})
	}
	for name, s := range load(t).all() {
		p := s.Prop(s.ID(s.Table))
		checks := []struct {
			what      string
			got, want any
		}{
			{"key schema", p["KeySchema"], keys(local.KeySchema)},
			{"attributes", sortByName(p["AttributeDefinitions"]), sortByName(attrs)},
			{"indexes", p["GlobalSecondaryIndexes"], gsis},
			{"stream", p["StreamSpecification"], map[string]any{"StreamViewType": string(local.StreamSpecification.StreamViewType)}},
			{"billing", p["BillingMode"], string(local.BillingMode)},
		}
		for _, c := range checks {
			if !equalJSON(c.got, c.want) {
				t.Errorf("%s: %s = %s, shared/dynamo %s", name, c.what, js(c.got), js(c.want))
			}
		}
	}
}

func sortByName(v any) []any {
	l := slices.Clone(list(norm(v)))
	slices.SortFunc(l, func(a, b any) int {
		x, _ := a.(map[string]any)["AttributeName"].(string)
		y, _ := b.(map[string]any)["AttributeName"].(string)
		if x < y {
			return -1
		}
		if x > y {
			return 1
		}
		return 0
	})
	return l
}

// TestReconcilerMetricAlarm: the alarm watches a metric the reconciler
// writes, in the namespace it writes it to.
func TestReconcilerMetricAlarm(t *testing.T) {
	if stack.MetricNamespace != app.MetricNamespace {
		t.Errorf("the stack watches namespace %q, the reconciler writes %q", stack.MetricNamespace, app.MetricNamespace)
	}
	s := load(t).Default
	found := false
	for _, a := range s.Resources("AWS::CloudWatch::Alarm") {
		p := a["Properties"].(map[string]any)
		if p["Namespace"] != stack.MetricNamespace {
			continue
		}
		found = true
		if name, _ := p["MetricName"].(string); !slices.Contains(app.ReconcileMetrics, name) {
			t.Errorf("alarm on %s, which the reconciler does not write (it writes %v)", name, app.ReconcileMetrics)
		}
		if p["Dimensions"] != nil {
			t.Errorf("alarm dimensions %s; the reconciler's metrics have none", js(p["Dimensions"]))
		}
	}
	if !found {
		t.Error("no alarm on the reconciler's metrics")
	}
}
