package capacity

// Prices are the AWS list prices the model multiplies usage by. They are
// kept in this one table, with the date and Region they were taken for, so
// that an operator can replace them with their own Region's figures or a
// newer page without touching the model.
type Prices struct {
	// Region and AsOf say which prices these are; Source names the pages.
	Region string
	AsOf   string
	Source []string

	SecretMonth       float64 // Secrets Manager: one secret stored for a month
	SecretsAPICall    float64 // Secrets Manager: one API call
	DynamoReadUnit    float64 // DynamoDB on-demand: one read request unit
	DynamoWriteUnit   float64 // DynamoDB on-demand: one write request unit
	DynamoGBMonth     float64 // DynamoDB Standard table class: one GB stored for a month
	LambdaRequest     float64 // Lambda: one invocation
	LambdaGBSecond    float64 // Lambda arm64: one GB-second of duration
	HTTPAPIRequest    float64 // API Gateway HTTP API: one request (first 300 million a month)
	KMSKeyMonth       float64 // KMS: one customer managed key for a month
	KMSRequest        float64 // KMS: one symmetric request
	EventBridgeEvent  float64 // EventBridge: one custom event published
	SNSPublish        float64 // SNS standard topic: one publish
	LogsIngestGB      float64 // CloudWatch Logs: one GB ingested (standard class)
	LogsStoreGBMonth  float64 // CloudWatch Logs: one GB archived for a month
	CustomMetricMonth float64 // CloudWatch: one custom metric for a month
	AlarmMonth        float64 // CloudWatch: one standard-resolution alarm for a month
}

// USEast1 is the price table used by default: AWS list prices for US East
// (N. Virginia), on-demand, without free tiers or volume discounts (which
// only lower the bill). The figures are those the AWS pricing pages below
// published in 2025, recorded on 2026-12-01; check them against the pages
// before quoting them, and replace this table for another Region.
var USEast1 = Prices{
	Region: "us-east-1 (US East, N. Virginia)",
	AsOf:   "2026-12-01 (figures as published on the pages in 2025)",
	Source: []string{
		"https://aws.amazon.com/secrets-manager/pricing/",
		"https://aws.amazon.com/dynamodb/pricing/on-demand/",
		"https://aws.amazon.com/lambda/pricing/",
		"https://aws.amazon.com/api-gateway/pricing/",
		"https://aws.amazon.com/kms/pricing/",
		"https://aws.amazon.com/eventbridge/pricing/",
		"https://aws.amazon.com/sns/pricing/",
		"https://aws.amazon.com/cloudwatch/pricing/",
	},

	SecretMonth:       0.40,
	SecretsAPICall:    0.05 / 10_000,
	DynamoReadUnit:    0.125 / 1e6,
	DynamoWriteUnit:   0.625 / 1e6,
	DynamoGBMonth:     0.25,
	LambdaRequest:     0.20 / 1e6,
	LambdaGBSecond:    0.0000133334,
	HTTPAPIRequest:    1.00 / 1e6,
	KMSKeyMonth:       1.00,
	KMSRequest:        0.03 / 10_000,
	EventBridgeEvent:  1.00 / 1e6,
	SNSPublish:        0.50 / 1e6,
	LogsIngestGB:      0.50,
	LogsStoreGBMonth:  0.03,
	CustomMetricMonth: 0.30,
	AlarmMonth:        0.10,
}
