package stack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/devicepass/devicepass/shared/apigw/api"
)

// Route is one route of the HTTP API.
type Route struct {
	api.Route
	// Create marks routes that make devices, passwords or enrollment tokens
	// (or revoke every device): they get the tighter per-route throttle.
	Create bool
}

// createOperations are the operations throttled as creates. Throttling is
// the stack's decision, so it is listed here, by the document's operation
// ids; a test checks that every step-up operation that makes a
// credential or revokes everything is among them.
var createOperations = map[string]bool{
	api.OpCreateDevice:       true,
	api.OpRegeneratePassword: true,
	api.OpRevokeAllDevices:   true,
	api.OpCreateEnrollment:   true,
	api.OpRedeemEnrollment:   true,
	api.OpPutDomainPolicy:    true,
}

// UserRoutes are the routes web apps call with a JWT; the api function
// serves them all. They are docs/openapi.yaml's JWT-authorized routes,
// from the route table generated from it.
var UserRoutes = routesOf(api.AuthJWT)

// VerifyRoute is the IAM-authorized route of mail servers, served by the
// verify function; it has a throttle of its own.
var VerifyRoute = iamRoute(api.OpVerify)

// CredentialRoute is the IAM-authorized report of a changed main
// password, served by the api function, which may revoke devices (the
// verify function may not).
var CredentialRoute = iamRoute(api.OpCredentialChanged)

func routesOf(auth api.Auth) []Route {
	var out []Route
	for _, r := range api.Routes {
		if r.Auth == auth {
			out = append(out, Route{Route: r, Create: createOperations[r.Operation]})
		}
	}
	return out
}

// iamRoute returns the IAM-authorized route of operation op. Every IAM
// route is placed here by name, so a new one in docs/openapi.yaml needs a
// decision about which function serves it (a test checks that the stack
// creates every route of the document).
func iamRoute(op string) Route {
	for _, r := range routesOf(api.AuthIAM) {
		if r.Operation == op {
			return r
		}
	}
	panic(fmt.Sprintf("stack: docs/openapi.yaml has no IAM-authorized operation %s", op))
}

// AccessLogFormat is the API's access log line: who called which route and
// what came of it. It names the route by its template ($context.routeKey),
// never by the request path, because a path may carry an enrollment token;
// it holds no request body and no header.
var AccessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","routeKey":"$context.routeKey",` +
	`"status":"$context.status","protocol":"$context.protocol",` +
	`"responseLength":"$context.responseLength","latency":"$context.responseLatency",` +
	`"integrationLatency":"$context.integrationLatency",` +
	`"errors":{"message":"$context.error.message","authorizer":"$context.authorizer.error",` +
	`"integration":"$context.integrationErrorMessage"}}`

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

func (a *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination {
	return a.destination
}
func (a *accessLogSettings) Format() awsapigateway.AccessLogFormat { return a.format }

func (s *DevicepassStack) userAuthorizer() awsapigatewayv2.IHttpRouteAuthorizer {
	p := s.Props
	if p.JWTIssuer != "" {
		return awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("UserJwt"), jsii.String(p.JWTIssuer),
			&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
				JwtAudience:    jsii.Strings(p.JWTAudience...),
				IdentitySource: jsii.Strings("$request.header.Authorization"),
			})
	}
	featurePlan := awscognito.FeaturePlan_ESSENTIALS
	var threat awscognito.StandardThreatProtectionMode
	if p.CognitoThreatProtection {
		featurePlan = awscognito.FeaturePlan_PLUS
		threat = awscognito.StandardThreatProtectionMode_FULL_FUNCTION
	}
	s.UserPool = awscognito.NewUserPool(s.Stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		Mfa:               awscognito.Mfa_REQUIRED,
		MfaSecondFactor:   &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:            jsii.Number(12),
			RequireLowercase:     jsii.Bool(true),
			RequireUppercase:     jsii.Bool(true),
			RequireDigits:        jsii.Bool(true),
			RequireSymbols:       jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		AccountRecovery:              awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:                  featurePlan,
		StandardThreatProtectionMode: threat,
		DeletionProtection:           jsii.Bool(true),
		RemovalPolicy:                awscdk.RemovalPolicy_RETAIN,
	})
	client := &awscognito.UserPoolClientOptions{
		GenerateSecret:             jsii.Bool(false),
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Days(jsii.Number(1)),
	}
	if len(p.CallbackURLs) > 0 {
		client.OAuth = &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: jsii.Strings(p.CallbackURLs...),
		}
		if len(p.LogoutURLs) > 0 {
			client.OAuth.LogoutUrls = jsii.Strings(p.LogoutURLs...)
		}
	} else {
		client.DisableOAuth = jsii.Bool(true)
	}
	s.UserPoolClient = s.UserPool.AddClient(jsii.String("WebClient"), client)
	if p.CognitoDomainPrefix != "" {
		s.UserPool.AddDomain(jsii.String("Domain"), &awscognito.UserPoolDomainOptions{
			CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(p.CognitoDomainPrefix)},
		})
	}
	return awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(jsii.String("UserPool"), s.UserPool,
		&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{
			UserPoolClients: &[]awscognito.IUserPoolClient{s.UserPoolClient},
			IdentitySource:  jsii.Strings("$request.header.Authorization"),
		})
}

func (s *DevicepassStack) defineAPI() {
	p := s.Props
	apiProps := &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(*s.StackName() + "-api"),
		Description:        jsii.String("devicepass HTTP API v1"),
		CreateDefaultStage: jsii.Bool(false),
	}
	if len(p.AllowedOrigins) > 0 {
		apiProps.CorsPreflight = &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(p.AllowedOrigins...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_PUT,
				awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_PATCH,
				awsapigatewayv2.CorsHttpMethod_DELETE,
			},
			AllowHeaders:  jsii.Strings("Authorization", "Content-Type", "Idempotency-Key"),
			ExposeHeaders: jsii.Strings("WWW-Authenticate", "Retry-After", "Location"),
			MaxAge:        awscdk.Duration_Hours(jsii.Number(1)),
		}
	}
	s.API = awsapigatewayv2.NewHttpApi(s.Stack, jsii.String("Api"), apiProps)

	accessLogs := awslogs.NewLogGroup(s.Stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retentionDays[p.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.Stage = awsapigatewayv2.NewHttpStage(s.Stack, jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    s.API,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(p.APIRateLimit),
			BurstLimit: jsii.Number(float64(p.APIBurstLimit)),
		},
		AccessLogSettings: &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(accessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(AccessLogFormat)),
		},
	})

	userAuth := s.userAuthorizer()
	apiIntegration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiFunction"),
		s.Functions["api"].Function(), nil)
	verifyIntegration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("VerifyFunction"),
		s.Functions["verify"].Function(), nil)

	routeSettings := map[string]any{}
	// add creates route r; throttled routes get a rate and burst of their
	// own in the stage's route settings.
	add := func(r Route, integration awsapigatewayv2.HttpRouteIntegration, auth awsapigatewayv2.IHttpRouteAuthorizer, throttled bool, rate float64, burst int) {
		routes := s.API.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integration,
			Authorizer:  auth,
		})
		for _, route := range *routes {
			// Route settings name routes that must exist first.
			s.Stage.Node().AddDependency(route)
		}
		if throttled {
			routeSettings[r.Key()] = map[string]any{
				"ThrottlingRateLimit":  rate,
				"ThrottlingBurstLimit": burst,
			}
		}
	}
	for _, r := range UserRoutes {
		add(r, apiIntegration, userAuth, r.Create, p.CreateRateLimit, p.CreateBurstLimit)
	}
	add(VerifyRoute, verifyIntegration, awsapigatewayv2authorizers.NewHttpIamAuthorizer(), true, p.VerifyRateLimit, p.VerifyBurstLimit)
	add(CredentialRoute, apiIntegration, awsapigatewayv2authorizers.NewHttpIamAuthorizer(), false, 0, 0)

	cfnStage := s.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.AddPropertyOverride(jsii.String("RouteSettings"), routeSettings)
}
