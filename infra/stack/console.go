package stack

import (
	"io/fs"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicepass/devicepass/console"
)

// ConsoleCallbackPath is the page Cognito's login returns to, in the
// console's sign-in popup.
const ConsoleCallbackPath = "/callback.html"

// defineConsole hosts the web console: its files (embedded in package
// console, so synth needs no build step) in a private bucket read only by
// CloudFront through Origin Access Control, and one distribution serving
// them and routing /v1/* to the HTTP API, so the browser talks to one
// origin (no CORS). Every answer of the distribution carries the console's
// security headers through a response headers policy.
func (s *DevicepassStack) defineConsole() {
	s.ConsoleBucket = awss3.NewBucket(s.Stack, jsii.String("ConsoleBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		Versioned:         jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})

	var connect []string
	config := map[string]any{"mode": "cognito"}
	if s.UserPool != nil && s.Props.CognitoDomainPrefix != "" {
		authority := "https://" + s.Props.CognitoDomainPrefix + ".auth." + *s.Region() + ".amazoncognito.com"
		connect = append(connect, authority)
		config["authority"] = authority
		config["clientId"] = *s.UserPoolClient.UserPoolClientId()
	}
	csp := console.ContentSecurityPolicyConnecting(connect...)

	headers := awscloudfront.NewResponseHeadersPolicy(s.Stack, jsii.String("ConsoleHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: jsii.String("devicepass console: strict CSP without inline script, HSTS, no framing, no referrer"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{ContentSecurityPolicy: jsii.String(csp), Override: jsii.Bool(true)},
			ContentTypeOptions:    &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			FrameOptions:          &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true)},
			ReferrerPolicy:        &awscloudfront.ResponseHeadersReferrerPolicy{ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: jsii.Bool(true)},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Seconds(jsii.Number(63072000)),
				IncludeSubdomains:   jsii.Bool(true),
				Override:            jsii.Bool(true),
			},
		},
		CustomHeadersBehavior: &awscloudfront.ResponseCustomHeadersBehavior{CustomHeaders: &[]*awscloudfront.ResponseCustomHeader{
			{Header: jsii.String("Cross-Origin-Opener-Policy"), Value: jsii.String("same-origin"), Override: jsii.Bool(true)},
			{Header: jsii.String("Permissions-Policy"), Value: jsii.String(console.SecurityHeaders(true)["Permissions-Policy"]), Override: jsii.Bool(true)},
		}},
	})

	// The API's host name: its endpoint is https://<id>.execute-api.<region>.amazonaws.com.
	apiHost := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), s.API.ApiEndpoint(), nil))
	props := &awscloudfront.DistributionProps{
		Comment:           jsii.String("devicepass console and API"),
		DefaultRootObject: jsii.String("index.html"),
		HttpVersion:       awscloudfront.HttpVersion_HTTP2_AND_3,
		// No MinimumProtocolVersion with CloudFront's default certificate:
		// it has no effect there (the policy is fixed), and CDK warns at
		// synth. A custom domain's certificate takes TLS 1.2 as minimum.
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(s.ConsoleBucket, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			ResponseHeadersPolicy: headers,
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			"/v1/*": {
				Origin: awscloudfrontorigins.NewHttpOrigin(apiHost, &awscloudfrontorigins.HttpOriginProps{
					ProtocolPolicy: awscloudfront.OriginProtocolPolicy_HTTPS_ONLY,
				}),
				ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
				AllowedMethods:       awscloudfront.AllowedMethods_ALLOW_ALL(),
				// Never cache an answer: some carry a password (they say
				// Cache-Control: no-store as well).
				CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
				OriginRequestPolicy:   awscloudfront.OriginRequestPolicy_ALL_VIEWER_EXCEPT_HOST_HEADER(),
				ResponseHeadersPolicy: headers,
			},
		},
	}
	if s.Props.ConsoleDomain != "" {
		props.DomainNames = jsii.Strings(s.Props.ConsoleDomain)
		props.Certificate = awscertificatemanager.Certificate_FromCertificateArn(s.Stack, jsii.String("ConsoleCertificate"), jsii.String(s.Props.ConsoleCertificateArn))
		props.MinimumProtocolVersion = awscloudfront.SecurityPolicyProtocol_TLS_V1_2_2021
	}
	s.Distribution = awscloudfront.NewDistribution(s.Stack, jsii.String("Console"), props)
	consoleURL := "https://" + *s.Distribution.DistributionDomainName()
	if s.Props.ConsoleDomain != "" {
		consoleURL = "https://" + s.Props.ConsoleDomain
	}
	config["mail"] = map[string]any{"imapHost": s.Props.MailIMAPHost, "imapPort": 993, "smtpHost": s.Props.MailSMTPHost, "smtpPort": 587}

	sources := []awss3deployment.ISource{awss3deployment.Source_JsonData(jsii.String("config.json"), config, nil)}
	_ = fs.WalkDir(console.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(console.Files(), p)
		if err != nil {
			return err
		}
		sources = append(sources, awss3deployment.Source_Data(jsii.String(p), jsii.String(string(b)), nil))
		return nil
	})
	s.ConsoleDeployment = awss3deployment.NewBucketDeployment(s.Stack, jsii.String("ConsoleFiles"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: s.ConsoleBucket,
		Sources:           &sources,
		Distribution:      s.Distribution,
		DistributionPaths: jsii.Strings("/*"),
		Prune:             jsii.Bool(true),
		CacheControl:      &[]awss3deployment.CacheControl{awss3deployment.CacheControl_FromString(jsii.String("no-cache"))},
	})

	// The console signs in through the web client's code flow with PKCE
	// (a public client, no secret) and returns to its callback page.
	if s.UserPool != nil {
		cfn := s.UserPoolClient.Node().DefaultChild().(awscognito.CfnUserPoolClient)
		callbacks := append([]string{consoleURL + ConsoleCallbackPath}, s.Props.CallbackURLs...)
		logouts := append([]string{consoleURL + "/"}, s.Props.LogoutURLs...)
		cfn.AddPropertyOverride(jsii.String("CallbackURLs"), jsii.Strings(callbacks...))
		cfn.AddPropertyOverride(jsii.String("LogoutURLs"), jsii.Strings(logouts...))
		cfn.AddPropertyOverride(jsii.String("AllowedOAuthFlows"), jsii.Strings("code"))
		cfn.AddPropertyOverride(jsii.String("AllowedOAuthFlowsUserPoolClient"), jsii.Bool(true))
		cfn.AddPropertyOverride(jsii.String("AllowedOAuthScopes"), jsii.Strings("openid", "email", "profile"))
		cfn.AddPropertyOverride(jsii.String("SupportedIdentityProviders"), jsii.Strings("COGNITO"))
	}
	s.suppressConsole()
	awscdk.NewCfnOutput(s.Stack, jsii.String("ConsoleUrl"), &awscdk.CfnOutputProps{
		Value: jsii.String(consoleURL + "/"), Description: jsii.String("the web console (and the API under /v1/ on the same origin)"),
	})
	if s.Props.ConsoleDomain != "" {
		// The console's domain resolves only once DNS points it here.
		awscdk.NewCfnOutput(s.Stack, jsii.String("ConsoleDnsTarget"), &awscdk.CfnOutputProps{
			Value:       s.Distribution.DistributionDomainName(),
			Description: jsii.String("point the console domain here: a CNAME, or a Route 53 alias to this CloudFront distribution"),
		})
	}
}

// The cdk-nag findings the console's hosting accepts, with their reasons.
const (
	reasonConsoleBucketLogs = "The bucket holds only the console's static files: CloudFront reads it through " +
		"Origin Access Control and the CloudFormation deployment writes it; nothing else has access, and " +
		"every change to it is a stack deployment recorded by CloudTrail."
	reasonNoCloudFrontLogs = "CloudFront's standard logs record the full request URI, and POST " +
		"/v1/enrollments/{token}/device carries a one-time enrollment token in its path, which must never " +
		"reach a log. The HTTP API's access log (route template, status, latency) records every API request; " +
		"the console's files are public static content."
	reasonDefaultCertificate = "The distribution uses CloudFront's default *.cloudfront.net certificate, with " +
		"which the minimum viewer TLS version cannot be raised; modern browsers negotiate TLS 1.2 or 1.3. " +
		"Deploying with the consoleDomain and consoleCertificateArn context keys (docs/deploy.md) serves the console on a " +
		"custom domain with an ACM certificate and a TLS 1.2 minimum, and this suppression no longer applies."
	reasonNoGeo = "Mailbox owners and administrators sign in from wherever they travel; sign-in requires MFA " +
		"and the API throttles every route."
	reasonNoWAF = "The API throttles every route (stage and per-route limits), sign-in is Cognito's with " +
		"MFA, and every management route needs a valid JWT; a web ACL can be attached to the distribution " +
		"where an organization's policy asks for one."
	reasonUploadFunction = "CDK's BucketDeployment custom resource, run only during deployments to copy the " +
		"console's files from the CDK asset bucket into the console bucket: its role is CDK's own, scoped to " +
		"those two buckets and the distribution's invalidation, and its runtime is the one CDK pins."
)

func (s *DevicepassStack) suppressConsole() {
	cdknag.NagSuppressions_AddResourceSuppressions(s.ConsoleBucket, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-S1"), Reason: jsii.String(reasonConsoleBucketLogs)},
	}, jsii.Bool(false))
	distribution := []*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-CFR1"), Reason: jsii.String(reasonNoGeo)},
		{Id: jsii.String("AwsSolutions-CFR2"), Reason: jsii.String(reasonNoWAF)},
		{Id: jsii.String("AwsSolutions-CFR3"), Reason: jsii.String(reasonNoCloudFrontLogs)},
	}
	if s.Props.ConsoleDomain == "" {
		distribution = append(distribution, &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-CFR4"), Reason: jsii.String(reasonDefaultCertificate)})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(s.Distribution, &distribution, jsii.Bool(false))
	for _, c := range *s.Stack.Node().Children() {
		if strings.HasPrefix(*c.Node().Id(), "Custom::CDKBucketDeployment") {
			c.Node().DefaultChild().(awscdk.CfnResource).AddMetadata(jsii.String(LintIgnoreMetadata), map[string]any{
				"config":  map[string]any{"ignore_checks": []string{"W3005"}},
				"reasons": map[string]string{"W3005": reasonDependsOnRole},
			})
			cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{
				{Id: jsii.String("AwsSolutions-L1"), Reason: jsii.String(reasonUploadFunction)},
				{Id: jsii.String("AwsSolutions-IAM4"), Reason: jsii.String(reasonUploadFunction),
					AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}},
				{Id: jsii.String("AwsSolutions-IAM5"), Reason: jsii.String(reasonUploadFunction), AppliesTo: &[]any{
					"Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:DeleteObject*", "Action::s3:Abort*",
					"Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
					&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<ConsoleBucket[A-Za-z0-9]+\.Arn>\/\*$/`)},
					// cloudfront:CreateInvalidation and GetInvalidation have no resource-level permissions.
					"Resource::*",
				}},
			}, jsii.Bool(true))
		}
	}
}
