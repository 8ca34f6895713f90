//go:build tools

// Package tools pins build and infrastructure dependencies that no Lambda imports.
package tools

import (
	_ "github.com/aws/aws-cdk-go/awscdk/v2"
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	_ "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	_ "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	_ "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/aws/aws-sdk-go-v2/service/sns"
	_ "github.com/aws/constructs-go/constructs/v10"
	_ "github.com/aws/jsii-runtime-go"
	_ "github.com/cdklabs/cdk-nag-go/cdknag/v2"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen" // generates shared/apigw/api's types (go generate)
	_ "golang.org/x/net/idna"
)
