// Package stack defines devicepass's AWS infrastructure as one CDK stack:
// the table, the key, the Lambda functions with least-privilege roles, the
// HTTP API with its authorizers, the Cognito user pool, the event bus,
// topics, schedules and alarms. cdk-nag's AwsSolutions pack checks it; the
// suppressions it needs are in nag.go, each with its reason.
package stack

import (
	"fmt"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// MetricNamespace is the CloudWatch namespace of the reconciler's metrics,
// which it writes as Embedded Metric Format log lines (shared/lifecycle): CloudWatch
// Logs extracts them, so no role needs cloudwatch:PutMetricData.
const MetricNamespace = "devicepass"

// The table's sparse index of live devices with an expiry, which the sweep
// queries; shared/dynamo's CreateTable defines the same for local runs, and
// a test keeps the two identical.
const (
	ExpiringIndex        = "expiring"
	ExpiringPartitionKey = "expPK" // S: one constant value, set only on live devices with an expiry
	ExpiringSortKey      = "expMs" // N: the expiry in Unix milliseconds
)

// The table's sparse indexes of mailbox items, which the console's
// listings query: a caller's mailboxes and a domain's, each sorted by
// address. shared/dynamo's CreateTable defines the same.
const (
	ByOwnerIndex       = "byOwner"
	ByOwnerKey         = "owner" // S: the owner's subject, only on mailbox items
	ByDomainIndex      = "byDomain"
	ByDomainKey        = "mbxDomain" // S: the mailbox's domain, only on mailbox items
	MailboxIndexesSort = "address"   // S: the mailbox's address
)

// The table's sparse index of enrollment links by mailbox and expiry,
// which the administrators' list of open links queries.
const (
	EnrollmentsIndex        = "enrollments"
	EnrollmentsPartitionKey = "enrMbx" // S: the link's mailbox, only on enrollment items
)

// The table's sparse index of each domain's live devices (and, under one
// partition of their own, the domains with a policy), which the compliance
// listing and the policy sweep query; shared/dynamo defines the same.
const (
	DomainIndex        = "domain"
	DomainPartitionKey = "domPK" // S: the domain of a live device; "#POLICIES" on policy items
	DomainSortKey      = "domSK" // S: mailbox#device id; the domain on policy items
)

// The table's sparse, keys-only index of every device item, live or ended,
// under its mailbox's first character, which the reconciler reads one
// slice of the fleet at a time through; shared/dynamo defines the same.
const (
	ReconcileIndex        = "reconcile"
	ReconcilePartitionKey = "recPK" // S: "REC#" and the first character of a device's mailbox
)

// DevicepassStack is the synthesized system and the constructs tests and
// other stacks may refer to.
type DevicepassStack struct {
	awscdk.Stack

	// Props are the props after defaults were applied.
	Props DevicepassStackProps
	// Key encrypts the table, the device secrets, the verifier key and the
	// notice topic.
	Key awskms.Key
	// Table is the one DynamoDB table (see docs/architecture.md).
	Table awsdynamodb.Table
	// VerifierKey is the secret holding the HMAC key of the verifiers.
	VerifierKey awssecretsmanager.Secret
	// Functions maps each name of FunctionNames to its function.
	Functions map[string]GoFunction
	// RotationSecretsPolicy is the rotation function's grant on the device
	// secrets, conditional on the secret naming it as its rotation function.
	RotationSecretsPolicy awsiam.Policy
	// RotationFailureRule sends Secrets Manager's failed-rotation events
	// of device secrets to the rotation-events function.
	RotationFailureRule awsevents.Rule
	// API is the HTTP API and Stage its $default stage.
	API   awsapigatewayv2.HttpApi
	Stage awsapigatewayv2.HttpStage
	// UserPool and UserPoolClient are nil when another OIDC provider is used.
	UserPool       awscognito.UserPool
	UserPoolClient awscognito.UserPoolClient
	// ConsoleBucket holds the web console's files, which Distribution
	// serves (with /v1/* routed to API) and ConsoleDeployment uploads.
	ConsoleBucket     awss3.Bucket
	Distribution      awscloudfront.Distribution
	ConsoleDeployment awss3deployment.BucketDeployment
	// EventBus receives lifecycle events from the stream function.
	EventBus awsevents.EventBus
	// NoticeTopic carries owner notices; AlarmTopic carries alarms.
	NoticeTopic awssns.Topic
	AlarmTopic  awssns.Topic
	// StreamDLQ receives the descriptions of stream batches that failed
	// every retry.
	StreamDLQ awssqs.Queue
	// Alarms are every alarm of the stack, all notifying AlarmTopic.
	Alarms []awscloudwatch.Alarm
}

// NewDevicepassStack validates props (after defaults) and defines the stack.
func NewDevicepassStack(scope constructs.Construct, id string, props *DevicepassStackProps) (*DevicepassStack, error) {
	var p DevicepassStackProps
	if props != nil {
		p = *props
	}
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("devicepass stack: %w", err)
	}
	sp := p.StackProps
	if sp.Description == nil {
		sp.Description = jsii.String("devicepass: device passwords for mailboxes, rotated in Secrets Manager")
	}
	s := &DevicepassStack{
		Stack:     awscdk.NewStack(scope, jsii.String(id), &sp),
		Props:     p,
		Functions: map[string]GoFunction{},
	}
	s.defineData()
	s.defineMessaging()
	s.defineFunctions()
	s.grant()
	s.defineTriggers()
	s.defineRotationFailureRule()
	s.defineAPI()
	s.defineConsole()
	s.defineAlarms()
	s.defineOutputs()
	s.suppress()
	return s, nil
}

func (s *DevicepassStack) defineData() {
	s.Key = awskms.NewKey(s.Stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("devicepass: device secrets, verifier key, table and notice topic"),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	s.Table = awsdynamodb.NewTable(s.Stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String("PK"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:       &awsdynamodb.Attribute{Name: jsii.String("SK"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:   awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:    awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey: s.Key,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection:  jsii.Bool(true),
		Stream:              awsdynamodb.StreamViewType_NEW_AND_OLD_IMAGES,
		TimeToLiveAttribute: jsii.String("ttl"),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
	})
	s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(ExpiringIndex),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ExpiringPartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ExpiringSortKey), Type: awsdynamodb.AttributeType_NUMBER},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	// DynamoDB creates one index per table update: an existing deployment
	// adding these four (byOwner, byDomain, enrollments, domain) takes four
	// deploys (docs/deploy.md).
	for _, ix := range [][2]string{{ByOwnerIndex, ByOwnerKey}, {ByDomainIndex, ByDomainKey}} {
		s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix[0]),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix[1]), Type: awsdynamodb.AttributeType_STRING},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(MailboxIndexesSort), Type: awsdynamodb.AttributeType_STRING},
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
	s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(EnrollmentsIndex),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(EnrollmentsPartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ExpiringSortKey), Type: awsdynamodb.AttributeType_NUMBER},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(DomainIndex),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(DomainPartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(DomainSortKey), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	// Keys only: a write to a device that leaves its mailbox alone never
	// writes to it. An existing deployment adds it in a deploy of its own.
	s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(ReconcileIndex),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ReconcilePartitionKey), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	})
	// Outside the device prefix on purpose: grants on <prefix>/* (DeleteSecret
	// among them) and the reconciler's orphan sweep must never reach it.
	s.VerifierKey = awssecretsmanager.NewSecret(s.Stack, jsii.String("VerifierKey"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("devicepass: HMAC-SHA-256 key of the password and token verifiers"),
		EncryptionKey: s.Key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
}

func (s *DevicepassStack) defineMessaging() {
	s.EventBus = awsevents.NewEventBus(s.Stack, jsii.String("EventBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(s.Props.EventBusName),
		Description:  jsii.String("devicepass lifecycle events (created, rotated, regenerated, disabled, revoked, expired, enrollment used)"),
	})
	s.NoticeTopic = awssns.NewTopic(s.Stack, jsii.String("NoticeTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("devicepass owner notices"),
		MasterKey:   s.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	// Alarm messages carry alarm names and metric values only. The topic is
	// left without KMS so that CloudWatch can publish without a key-policy
	// grant to the CloudWatch service; SSL is still enforced.
	s.AlarmTopic = awssns.NewTopic(s.Stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("devicepass alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	s.AlarmTopic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*s.AlarmTopic.TopicArn()),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": s.Account()},
		},
	}))
	if s.Props.AlarmEmail != "" {
		s.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.Props.AlarmEmail), nil))
	}
	s.StreamDLQ = awssqs.NewQueue(s.Stack, jsii.String("StreamDLQ"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// functionSpec is what differs between the functions.
type functionSpec struct {
	description string
	timeoutSec  float64
	concurrency int
}

func (s *DevicepassStack) specs() map[string]functionSpec {
	rotation := s.Props.RotationConcurrency
	if rotation < 0 {
		rotation = 0
	}
	return map[string]functionSpec{
		"api":            {"devicepass: the HTTP API's user routes", 10, 0},
		"verify":         {"devicepass: POST /v1/verify for mail servers", 5, s.Props.VerifyConcurrency},
		"rotation":       {"devicepass: Secrets Manager rotation of device secrets", 30, rotation},
		"stream":         {"devicepass: table stream to events, audit, notices and expiry", 60, 0},
		"sweep":          {"devicepass: scheduled sweep of expired devices", 60, 0},
		"reconciler":     {"devicepass: scheduled reconciliation of secrets and devices", 300, 0},
		"rotationevents": {"devicepass: failed rotations of device secrets (CloudTrail) recorded on their devices", 10, 0},
	}
}

// environment is the configuration table of docs/architecture.md. Every
// function gets the common part; ROTATION_LAMBDA_ARN only the api function
// and the reconciler (they call RotateSecret, the reconciler to repair
// schedule drift; the rotation function cannot refer to its own ARN),
// EVENT_BUS_NAME and NOTICE_TOPIC_ARN only the stream function (the only
// publisher: the rotation-events function records a failure on its device
// and the stream announces it).
func (s *DevicepassStack) environment(name string) map[string]string {
	p := s.Props
	env := p.contextEnv()
	env["TABLE_NAME"] = *s.Table.TableName()
	env["KMS_KEY_ID"] = *s.Key.KeyArn()
	env["VERIFIER_KEY_SECRET_ID"] = *s.VerifierKey.SecretArn()
	switch name {
	case "api", "reconciler":
		env["ROTATION_LAMBDA_ARN"] = *s.Functions["rotation"].Function().FunctionArn()
	case "stream":
		env["EVENT_BUS_NAME"] = *s.EventBus.EventBusName()
		env["NOTICE_TOPIC_ARN"] = *s.NoticeTopic.TopicArn()
	}
	return env
}

func (s *DevicepassStack) defineFunctions() {
	specs := s.specs()
	// rotation first: the api function's environment refers to it.
	for _, name := range []string{"rotation", "api", "verify", "stream", "sweep", "reconciler", "rotationevents"} {
		spec := specs[name]
		s.Functions[name] = NewGoFunction(s.Stack, name, &GoFunctionProps{
			BuildDir:            s.Props.BuildDir,
			Name:                name,
			Description:         spec.description,
			Timeout:             awscdk.Duration_Seconds(jsii.Number(spec.timeoutSec)),
			MemoryMB:            s.Props.MemoryMB,
			ReservedConcurrency: spec.concurrency,
			Environment:         s.environment(name),
			LogRetention:        retentionDays[s.Props.LogRetentionDays],
		})
	}
}

// SecretPrefixARN is the ARN pattern of every device secret:
// arn:<partition>:secretsmanager:<region>:<account>:secret:<prefix>/*.
func (s *DevicepassStack) SecretPrefixARN() *string {
	return s.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("secretsmanager"),
		Resource:     jsii.String("secret"),
		ResourceName: jsii.String(s.Props.SecretPrefix + "/*"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// SecretARNPrefix is what every device secret's ARN begins with:
// arn:<partition>:secretsmanager:<region>:<account>:secret:<prefix>/ (an
// event pattern's "prefix" match, where an IAM pattern's "*" is not
// available).
func (s *DevicepassStack) SecretARNPrefix() *string {
	return s.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("secretsmanager"),
		Resource:     jsii.String("secret"),
		ResourceName: jsii.String(s.Props.SecretPrefix + "/"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// ListingIndexARNs are the ARNs of the indexes the API function queries
// for the console's listings: mailboxes by owner and by domain, open
// enrollment links by mailbox.
func (s *DevicepassStack) ListingIndexARNs() []*string {
	return []*string{
		jsii.String(*s.Table.TableArn() + "/index/" + ByOwnerIndex),
		jsii.String(*s.Table.TableArn() + "/index/" + ByDomainIndex),
		jsii.String(*s.Table.TableArn() + "/index/" + EnrollmentsIndex),
	}
}

// DomainIndexARN is the ARN of the table's domain index, which the
// compliance listing queries.
func (s *DevicepassStack) DomainIndexARN() *string {
	return jsii.String(*s.Table.TableArn() + "/index/" + DomainIndex)
}

// ReconcileIndexARN is the ARN of the table's reconcile index, which the
// reconciler queries one mailbox slice at a time.
func (s *DevicepassStack) ReconcileIndexARN() *string {
	return jsii.String(*s.Table.TableArn() + "/index/" + ReconcileIndex)
}

// ExpiringIndexARN is the ARN of the table's expiring index, which the
// sweep queries.
func (s *DevicepassStack) ExpiringIndexARN() *string {
	return jsii.String(*s.Table.TableArn() + "/index/" + ExpiringIndex)
}

func statement(sid string, actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	})
}

// keyUse lets a role use the key only through the named AWS services
// (kms:ViaService), never directly.
func (s *DevicepassStack) keyUse(services ...string) awsiam.PolicyStatement {
	via := make([]*string, 0, len(services))
	for _, svc := range services {
		via = append(via, jsii.String(svc+"."+*s.Region()+".amazonaws.com"))
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("KeyViaServices"),
		Actions:    jsii.Strings("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings(*s.Key.KeyArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{"kms:ViaService": via}},
	})
}

// grant gives each function exactly the actions its code calls (the order
// of calls is in docs/architecture.md). IAM has no TransactWriteItems
// action: DynamoDB authorizes each item of a transaction as its own action
// (Put as PutItem, Update as UpdateItem, ConditionCheck as
// ConditionCheckItem, Delete as DeleteItem), so a function calling
// TransactWriteItems holds exactly those for the items it writes.
// The functions whose use cases hash passwords or tokens (api, verify,
// rotation) read the verifier key once per cold start (GetSecretValue,
// decrypted with the stack's key through Secrets Manager); the stream,
// sweep and reconciler functions never hash, never read it, and are not
// allowed to.
func (s *DevicepassStack) grant() {
	table := s.Table.TableArn()
	prefix := s.SecretPrefixARN()
	verifierKey := func() awsiam.PolicyStatement {
		return statement("ReadVerifierKey", []string{"secretsmanager:GetSecretValue"}, s.VerifierKey.SecretArn())
	}
	fn := s.Functions
	rotationARN := fn["rotation"].Function().FunctionArn()

	// Mailboxes: UpdateItem (register), BatchGetItem (every lookup). Devices:
	// TransactWriteItems (create: Put device, Update mailbox, Put idempotency
	// record; revoke: Update device, Update mailbox), GetItem (read back, replay),
	// Query (list), UpdateItem (patch, the rotation steps of a regenerate).
	// Enrollments: PutItem (create), GetItem (redeem), UpdateItem (cancel),
	// TransactWriteItems (redeem: Put device, Update mailbox, Update link).
	// Audit trail: Query. The console's listings (mailboxes, open links):
	// Query of their indexes.
	fn["api"].Allow(
		statement("Table", []string{
			"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
			"dynamodb:Query", "dynamodb:BatchGetItem",
		}, table),
		statement("ListingIndexes", []string{"dynamodb:Query"}, s.ListingIndexARNs()...),
		// A domain's compliance listing.
		statement("DomainIndex", []string{"dynamodb:Query"}, s.DomainIndexARN()),
		statement("DeviceSecrets", []string{
			"secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:PutSecretValue",
			"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
			"secretsmanager:UpdateSecretVersionStage", "secretsmanager:DeleteSecret",
			"secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret",
			// A rename updates the secret's Description (no new version).
			"secretsmanager:UpdateSecret",
		}, prefix),
		// RotateSecret requires the caller to be allowed to invoke the
		// rotation function it names (Secrets Manager API reference).
		statement("RotationFunctionForRotateSecret", []string{"lambda:InvokeFunction"}, rotationARN),
		verifierKey(),
		s.keyUse("secretsmanager", "dynamodb"),
	)
	fn["verify"].Allow(
		statement("Table", []string{"dynamodb:Query", "dynamodb:UpdateItem"}, table),
		verifierKey(),
		s.keyUse("secretsmanager", "dynamodb"),
	)
	fn["rotation"].Allow(
		statement("Table", []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}, table),
		verifierKey(),
		s.keyUse("secretsmanager", "dynamodb"),
	)
	// Only secrets whose rotation is this function (the condition AWS's
	// rotation templates set): a device without a rotation policy, or a
	// secret under the prefix rotated by something else, is out of its
	// reach. The statement names the function's own ARN, so it lives in a
	// policy the function is not created after.
	rotationSecrets := statement("DeviceSecrets", []string{
		"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
		"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
	}, prefix)
	rotationSecrets.AddCondition(jsii.String("StringEquals"), map[string]any{
		"secretsmanager:resource/AllowRotationLambdaArn": rotationARN,
	})
	s.RotationSecretsPolicy = fn["rotation"].AllowInOwnPolicy("SecretsPolicy", rotationSecrets)
	// Audit entries: PutItem (conditional on the entry not existing),
	// UpdateItem (marked published). A device DynamoDB's TTL removed:
	// TransactWriteItems (Put device, Update mailbox), then DeleteSecret
	// with the recovery window. Everything else comes in the stream records.
	fn["stream"].Allow(
		// GetItem: a domain's policy, for the notice of a new network.
		statement("Table", []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, table),
		// What the event source mapping calls with the function's role.
		// ListStreams supports no resource-level permissions (it lists the
		// streams of the account's tables, never their records).
		statement("TableStream", []string{
			"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
		}, s.Table.TableStreamArn()),
		statement("ListStreams", []string{"dynamodb:ListStreams"}, jsii.String("*")),
		statement("DeviceSecrets", []string{"secretsmanager:DeleteSecret"}, prefix),
		statement("LifecycleEvents", []string{"events:PutEvents"}, s.EventBus.EventBusArn()),
		statement("OwnerNotices", []string{"sns:Publish"}, s.NoticeTopic.TopicArn()),
		s.keyUse("secretsmanager", "dynamodb", "sns"),
		// Stream records are decrypted with the poller's (the role's)
		// credentials; AWS documents no kms:ViaService value for DynamoDB
		// Streams, so this one statement is scoped to the key alone, as
		// CDK's own Table.grantStreamRead does.
		statement("DecryptStreamRecords", []string{"kms:Decrypt"}, s.Key.KeyArn()),
	)
	// Query of the expiring index; per device, TransactWriteItems (Update
	// device, Update mailbox), GetItem when another writer ended it first,
	// then DeleteSecret with the recovery window.
	fn["sweep"].Allow(
		statement("ExpiringIndex", []string{"dynamodb:Query"}, s.ExpiringIndexARN()),
		// The policy part: the domains with a policy and their devices.
		statement("DomainIndex", []string{"dynamodb:Query"}, s.DomainIndexARN()),
		statement("Table", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, table),
		statement("DeviceSecrets", []string{"secretsmanager:DeleteSecret"}, prefix),
		s.keyUse("secretsmanager", "dynamodb"),
	)
	// ListSecrets and, slice by slice, a Query of the keys-only reconcile
	// index and BatchGetItem of its items (also how an orphan secret's
	// device is looked for in the table before the secret is deleted); the
	// checkpoint item: GetItem and PutItem. No Scan. Repairs: DeleteSecret
	// (orphans at once, ended devices' with the recovery window),
	// UpdateSecretVersionStage (finish a rotation, clear AWSPENDING),
	// TransactWriteItems (Update device, Update mailbox) to end a device
	// without a secret.
	fn["reconciler"].Allow(
		statement("Table", []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"}, table),
		statement("ReconcileIndex", []string{"dynamodb:Query"}, s.ReconcileIndexARN()),
		// ListSecrets supports no resource-level permissions; the function
		// filters by name prefix, and every other action stays on the prefix.
		statement("ListSecrets", []string{"secretsmanager:ListSecrets"}, jsii.String("*")),
		statement("DeviceSecrets", []string{
			"secretsmanager:DeleteSecret", "secretsmanager:UpdateSecretVersionStage",
			// Schedule drift: re-apply or cancel a device's rotation schedule.
			"secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret",
			// Description drift: name the device in its secret again.
			"secretsmanager:UpdateSecret",
		}, prefix),
		statement("RotationFunctionForRotateSecret", []string{"lambda:InvokeFunction"}, rotationARN),
		s.keyUse("secretsmanager", "dynamodb"),
	)

	// A failed rotation: one conditional UpdateItem of the device item
	// (the stream does the rest). No Secrets Manager call.
	fn["rotationevents"].Allow(
		statement("Table", []string{"dynamodb:UpdateItem"}, table),
		s.keyUse("dynamodb"),
	)

	// Secrets Manager invokes the rotation function, for this account only
	// (the confused-deputy guard AWS recommends).
	fn["rotation"].Function().AddPermission(jsii.String("SecretsManagerInvoke"), &awslambda.Permission{
		Principal:     awsiam.NewServicePrincipal(jsii.String("secretsmanager.amazonaws.com"), nil),
		Action:        jsii.String("lambda:InvokeFunction"),
		SourceAccount: s.Account(),
	})
}

func (s *DevicepassStack) defineTriggers() {
	awslambda.NewEventSourceMapping(s.Stack, jsii.String("StreamSource"), &awslambda.EventSourceMappingProps{
		Target:                  s.Functions["stream"].Function(),
		EventSourceArn:          s.Table.TableStreamArn(),
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(100),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(5),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(24)),
		ReportBatchItemFailures: jsii.Bool(true),
		OnFailure:               awslambdaeventsources.NewSqsDlq(s.StreamDLQ),
	})
	schedules := []struct {
		name  string
		every float64
	}{{"sweep", 5}, {"reconciler", 15}}
	for _, sc := range schedules {
		awsevents.NewRule(s.Stack, jsii.String(sc.name+"Schedule"), &awsevents.RuleProps{
			Description: jsii.String(fmt.Sprintf("devicepass: run %s every %v minutes", sc.name, sc.every)),
			Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(sc.every))),
			Targets: &[]awsevents.IRuleTarget{
				awseventstargets.NewLambdaFunction(s.Functions[sc.name].Function(), &awseventstargets.LambdaFunctionProps{
					RetryAttempts: jsii.Number(2),
					MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(sc.every)),
				}),
			},
		})
	}
}

// RotationFailureEvents are the CloudTrail event names of a failed
// rotation that the rotation-events rule matches.
var RotationFailureEvents = []string{"RotationFailed", "RotationAbandoned", "TestRotationFailed"}

// defineRotationFailureRule sends Secrets Manager's failed-rotation
// service events for device secrets (the secret's ARN under the prefix)
// from the account's default bus, where AWS delivers them, to the
// rotation-events function.
func (s *DevicepassStack) defineRotationFailureRule() {
	secretARNPrefix := s.SecretARNPrefix()
	names := make([]any, len(RotationFailureEvents))
	for i, n := range RotationFailureEvents {
		names[i] = n
	}
	s.RotationFailureRule = awsevents.NewRule(s.Stack, jsii.String("RotationFailures"), &awsevents.RuleProps{
		Description: jsii.String("devicepass: failed rotations of device secrets, to the rotation-events function"),
		EventPattern: &awsevents.EventPattern{
			Source:     &[]*string{jsii.String("aws.secretsmanager")},
			DetailType: &[]*string{jsii.String("AWS Service Event via CloudTrail")},
			Detail: &map[string]any{
				"eventSource":         []any{"secretsmanager.amazonaws.com"},
				"eventName":           names,
				"additionalEventData": map[string]any{"SecretId": []any{map[string]any{"prefix": secretARNPrefix}}},
			},
		},
		Targets: &[]awsevents.IRuleTarget{
			awseventstargets.NewLambdaFunction(s.Functions["rotationevents"].Function(), &awseventstargets.LambdaFunctionProps{
				RetryAttempts: jsii.Number(8),
				MaxEventAge:   awscdk.Duration_Hours(jsii.Number(24)),
			}),
		},
	})
}

func (s *DevicepassStack) defineOutputs() {
	out := func(id, value, description string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:       jsii.String(value),
			Description: jsii.String(description),
		})
	}
	out("ApiUrl", *s.Stage.Url(), "base URL of the HTTP API")
	if s.UserPool != nil {
		out("UserPoolId", *s.UserPool.UserPoolId(), "Cognito user pool of the web apps' users")
		out("UserPoolClientId", *s.UserPoolClient.UserPoolClientId(), "Cognito app client of the web apps (JWT audience)")
	}
	out("SecretPrefix", s.Props.SecretPrefix, "device secrets are named <prefix>/<mailbox>/<device id>")
	out("TableName", *s.Table.TableName(), "DynamoDB table")
	out("KeyArn", *s.Key.KeyArn(), "KMS key of the device secrets (consumers need kms:Decrypt through Secrets Manager)")
	out("EventBusName", *s.EventBus.EventBusName(), "EventBridge bus of lifecycle events")
	out("NoticeTopicArn", *s.NoticeTopic.TopicArn(), "SNS topic of owner notices")
	out("AlarmTopicArn", *s.AlarmTopic.TopicArn(), "SNS topic of alarms")
	out("RotationFunctionArn", *s.Functions["rotation"].Function().FunctionArn(), "rotation Lambda for Secrets Manager")
}
