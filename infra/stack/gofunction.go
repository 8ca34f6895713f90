package stack

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GoFunctionProps configures a GoFunction.
type GoFunctionProps struct {
	// BuildDir holds <Name>/bootstrap, built by the Makefile for linux/arm64.
	BuildDir string
	// Name is the function's folder under functions/ and BuildDir.
	Name string
	// Description says what the function does, in the console.
	Description string
	// Timeout of one invocation.
	Timeout awscdk.Duration
	// MemoryMB of the function.
	MemoryMB int
	// ReservedConcurrency reserves and caps concurrency; 0 means none.
	ReservedConcurrency int
	// Environment of the function.
	Environment map[string]string
	// LogRetention of the function's own log group.
	LogRetention awslogs.RetentionDays
}

// GoFunction is a Go Lambda function on provided.al2023 and arm64 with its
// own execution role and log group. The role starts with no permissions but
// writing to that log group (and X-Ray, which active tracing adds); callers
// add exactly the statements the function needs with Allow.
type GoFunction interface {
	constructs.Construct
	// Function is the Lambda function.
	Function() awslambda.Function
	// Role is the function's execution role.
	Role() awsiam.Role
	// LogGroup is the function's log group.
	LogGroup() awslogs.LogGroup
	// Allow adds statements to the execution role's policy.
	Allow(statements ...awsiam.PolicyStatement)
	// AllowInOwnPolicy adds statements to a policy of their own, attached
	// to the execution role, that the function is not created after.
	// Statements naming the function itself (its ARN) go here: in the role's
	// default policy they would make a dependency cycle, because the
	// function waits for that policy.
	AllowInOwnPolicy(id string, statements ...awsiam.PolicyStatement) awsiam.Policy
}

type goFunction struct {
	constructs.Construct
	fn   awslambda.Function
	role awsiam.Role
	logs awslogs.LogGroup
}

var _ GoFunction = (*goFunction)(nil)

// NewGoFunction creates the function, its role and its log group.
func NewGoFunction(scope constructs.Construct, id string, props *GoFunctionProps) GoFunction {
	c := constructs.NewConstruct(scope, jsii.String(id))
	f := &goFunction{Construct: c}

	f.logs = awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// An explicit role instead of the default one: the default attaches the
	// AWSLambdaBasicExecutionRole managed policy, which may write to every
	// log group of the account.
	f.role = awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("devicepass " + props.Name + " function"),
	})
	f.Allow(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("OwnLogGroup"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*f.logs.LogGroupArn()),
	}))

	env := make(map[string]*string, len(props.Environment))
	for k, v := range props.Environment {
		env[k] = jsii.String(v)
	}
	fp := &awslambda.FunctionProps{
		Description:  jsii.String(props.Description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.BuildDir, props.Name)), nil),
		Role:         f.role,
		LogGroup:     f.logs,
		Tracing:      awslambda.Tracing_ACTIVE,
		Timeout:      props.Timeout,
		MemorySize:   jsii.Number(float64(props.MemoryMB)),
		Environment:  &env,
	}
	if props.ReservedConcurrency > 0 {
		fp.ReservedConcurrentExecutions = jsii.Number(float64(props.ReservedConcurrency))
	}
	f.fn = awslambda.NewFunction(c, jsii.String("Function"), fp)
	ignoreLintChecks(f.fn, map[string]string{"W3005": reasonDependsOnRole})
	return f
}

func (f *goFunction) Function() awslambda.Function { return f.fn }
func (f *goFunction) Role() awsiam.Role            { return f.role }
func (f *goFunction) LogGroup() awslogs.LogGroup   { return f.logs }

func (f *goFunction) Allow(statements ...awsiam.PolicyStatement) {
	for _, s := range statements {
		f.role.AddToPrincipalPolicy(s)
	}
}

func (f *goFunction) AllowInOwnPolicy(id string, statements ...awsiam.PolicyStatement) awsiam.Policy {
	return awsiam.NewPolicy(f.Construct, jsii.String(id), &awsiam.PolicyProps{
		Roles:      &[]awsiam.IRole{f.role},
		Statements: &statements,
	})
}
