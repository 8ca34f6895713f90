// Package secrets implements device.Secrets and device.Scheduler on AWS
// Secrets Manager: one secret per device, named <prefix>/<mailbox>/<id>,
// holding {"username", "password", "device"}, tagged, and encrypted with
// the configured KMS key.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// API is the part of the Secrets Manager client the adapter calls.
type API interface {
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	RotateSecret(context.Context, *secretsmanager.RotateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	CancelRotateSecret(context.Context, *secretsmanager.CancelRotateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error)
	UpdateSecret(context.Context, *secretsmanager.UpdateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretOutput, error)
}

// Config configures the adapter.
type Config struct {
	KMSKeyID          string // optional: the key for new secrets (default: aws/secretsmanager)
	RotationLambdaARN string // required by SetSchedule
}

// Secrets is device.Secrets on Secrets Manager.
type Secrets struct {
	api API
	cfg Config
}

var (
	_ device.Secrets   = (*Secrets)(nil)
	_ device.Scheduler = (*Secrets)(nil)
)

// New returns the adapter.
func New(api API, cfg Config) (*Secrets, error) {
	if api == nil {
		return nil, errors.New("secrets: New needs a client")
	}
	return &Secrets{api: api, cfg: cfg}, nil
}

func marshal(v device.SecretValue) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// translate maps SDK errors to the domain's codes.
func translate(err error, op string) error {
	if err == nil {
		return nil
	}
	var (
		nf  *types.ResourceNotFoundException
		ex  *types.ResourceExistsException
		ip  *types.InvalidParameterException
		ir  *types.InvalidRequestException
		ae  smithy.APIError
		msg = op
	)
	switch {
	case errors.As(err, &nf):
		return apperr.Wrap(err, apperr.NotFound, "%s: no such secret or version", msg)
	case errors.As(err, &ex):
		return apperr.Wrap(err, apperr.Conflict, "%s: exists already", msg)
	case errors.As(err, &ip):
		return apperr.Wrap(err, apperr.Conflict, "%s: refused (%s)", msg, ip.ErrorMessage())
	case errors.As(err, &ir):
		return apperr.Wrap(err, apperr.Conflict, "%s: refused in the secret's state (%s)", msg, ir.ErrorMessage())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apperr.Wrap(err, apperr.Unavailable, "%s: timed out", msg)
	case errors.As(err, &ae):
		switch ae.ErrorCode() {
		case "ThrottlingException", "LimitExceededException", "InternalServiceError", "ServiceUnavailable":
			return apperr.Wrap(err, apperr.Unavailable, "%s: Secrets Manager is busy; retry", msg)
		}
		return apperr.Wrap(err, apperr.Internal, "%s failed", msg)
	}
	return apperr.Wrap(err, apperr.Unavailable, "%s: Secrets Manager unreachable", msg)
}

// Create implements device.Secrets.
func (s *Secrets) Create(ctx context.Context, in device.SecretInput) (device.SecretRef, error) {
	val, err := marshal(in.Value)
	if err != nil {
		return device.SecretRef{}, fmt.Errorf("create secret: %w", err)
	}
	keys := make([]string, 0, len(in.Tags))
	for k := range in.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(in.Tags[k])})
	}
	req := &secretsmanager.CreateSecretInput{
		Name:               &in.Name,
		ClientRequestToken: &in.Token,
		SecretString:       &val,
		Description:        description(in),
		Tags:               tags,
	}
	if s.cfg.KMSKeyID != "" {
		req.KmsKeyId = &s.cfg.KMSKeyID
	}
	out, err := s.api.CreateSecret(ctx, req)
	if err != nil {
		return device.SecretRef{}, translate(err, "create secret")
	}
	return device.SecretRef{ARN: aws.ToString(out.ARN), Version: aws.ToString(out.VersionId)}, nil
}

// description is a new secret's Description: the device's, or a generic
// one naming the mailbox.
func description(in device.SecretInput) *string {
	if in.Description != "" {
		return &in.Description
	}
	return aws.String("devicepass device password for " + in.Value.Username)
}

// SetDescription implements device.Secrets: UpdateSecret with only a
// Description makes no new version.
func (s *Secrets) SetDescription(ctx context.Context, secretID, description string) error {
	_, err := s.api.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: &secretID, Description: &description})
	return translate(err, "update secret description")
}

// Read implements device.Secrets.
func (s *Secrets) Read(ctx context.Context, secretID, version string) (device.SecretVersion, error) {
	req := &secretsmanager.GetSecretValueInput{SecretId: &secretID}
	if version != "" {
		req.VersionId = &version
	} else {
		// Name the stage rather than rely on the default: moto 5.2.1 keeps
		// answering the first version after AWSCURRENT moved.
		req.VersionStage = aws.String(device.StageCurrent)
	}
	out, err := s.api.GetSecretValue(ctx, req)
	if err != nil {
		return device.SecretVersion{}, translate(err, "read secret")
	}
	sv := device.SecretVersion{ARN: aws.ToString(out.ARN), Name: aws.ToString(out.Name), Version: aws.ToString(out.VersionId), Stages: out.VersionStages}
	if out.SecretString == nil {
		return sv, apperr.New(apperr.NotFound, "read secret: the version holds no value")
	}
	dec := json.NewDecoder(strings.NewReader(*out.SecretString))
	if err := dec.Decode(&sv.Value); err != nil {
		// Never wrap the decoder's error: it may quote the value.
		return sv, apperr.New(apperr.Internal, "read secret: the value is not devicepass JSON")
	}
	return sv, nil
}

// Describe implements device.Secrets.
func (s *Secrets) Describe(ctx context.Context, secretID string) (device.SecretState, error) {
	out, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &secretID})
	if err != nil {
		return device.SecretState{}, translate(err, "describe secret")
	}
	st := device.SecretState{
		ARN:      aws.ToString(out.ARN),
		Name:     aws.ToString(out.Name),
		Versions: out.VersionIdsToStages,
		Deleted:  out.DeletedDate != nil,
		Tags:     map[string]string{},
	}
	for _, t := range out.Tags {
		st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return st, nil
}

// PutPending implements device.Secrets.
func (s *Secrets) PutPending(ctx context.Context, secretID, token string, value device.SecretValue) error {
	val, err := marshal(value)
	if err != nil {
		return fmt.Errorf("put pending: %w", err)
	}
	req := &secretsmanager.PutSecretValueInput{
		SecretId:           &secretID,
		ClientRequestToken: &token,
		SecretString:       &val,
		VersionStages:      []string{device.StagePending},
	}
	if rt := device.RotationTokenFrom(ctx); rt != "" {
		req.RotationToken = &rt
	}
	_, err = s.api.PutSecretValue(ctx, req)
	return translate(err, "put pending version")
}

// MoveCurrent implements device.Secrets; Secrets Manager refuses (and the
// adapter answers Conflict) unless from holds AWSCURRENT: a compare and swap.
func (s *Secrets) MoveCurrent(ctx context.Context, secretID, to, from string) error {
	_, err := s.api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            &secretID,
		VersionStage:        aws.String(device.StageCurrent),
		MoveToVersionId:     &to,
		RemoveFromVersionId: &from,
	})
	return translate(err, "move AWSCURRENT")
}

// RemovePending implements device.Secrets.
func (s *Secrets) RemovePending(ctx context.Context, secretID, version string) error {
	_, err := s.api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            &secretID,
		VersionStage:        aws.String(device.StagePending),
		RemoveFromVersionId: &version,
	})
	return translate(err, "remove AWSPENDING")
}

// ScheduleDeletion implements device.Secrets.
func (s *Secrets) ScheduleDeletion(ctx context.Context, secretID string, days int) error {
	_, err := s.api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:             &secretID,
		RecoveryWindowInDays: aws.Int64(int64(days)),
	})
	var ir *types.InvalidRequestException
	// Already scheduled for deletion: AWS says "marked for deletion", moto
	// "marked deleted"; both contain "delet".
	if errors.As(err, &ir) && strings.Contains(strings.ToLower(ir.ErrorMessage()), "delet") {
		return nil
	}
	return translate(err, "schedule secret deletion")
}

// ForceDelete implements device.Secrets.
func (s *Secrets) ForceDelete(ctx context.Context, secretID string) error {
	_, err := s.api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:                   &secretID,
		ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	if apperr.Is(translate(err, ""), apperr.NotFound) {
		return nil
	}
	return translate(err, "delete secret")
}

// SetSchedule implements device.Scheduler: RotateSecret with the rotation
// Lambda and rules, without rotating now; nil cancels the schedule.
func (s *Secrets) SetSchedule(ctx context.Context, secretID string, p *device.RotationPolicy) error {
	if p == nil {
		_, err := s.api.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: &secretID})
		var ir *types.InvalidRequestException
		if errors.As(err, &ir) {
			return nil // rotation was not enabled
		}
		return translate(err, "cancel rotation")
	}
	if s.cfg.RotationLambdaARN == "" {
		return errors.New("set rotation schedule: no rotation Lambda ARN configured")
	}
	rules := &types.RotationRulesType{}
	if p.EveryDays != 0 {
		rules.AutomaticallyAfterDays = aws.Int64(int64(p.EveryDays))
	} else {
		rules.ScheduleExpression = &p.Schedule
		if p.Window != "" {
			rules.Duration = &p.Window
		}
	}
	_, err := s.api.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          &secretID,
		RotationLambdaARN: &s.cfg.RotationLambdaARN,
		RotationRules:     rules,
		RotateImmediately: aws.Bool(false),
	})
	return translate(err, "set rotation schedule")
}

// ListAPI is the listing call, kept apart so the API functions' clients
// need not offer it.
type ListAPI interface {
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// Lister implements device.SecretLister.
type Lister struct{ api ListAPI }

var _ device.SecretLister = Lister{}

// NewLister returns a Lister.
func NewLister(api ListAPI) (Lister, error) {
	if api == nil {
		return Lister{}, errors.New("secrets: NewLister needs a client")
	}
	return Lister{api: api}, nil
}

// ListSecrets implements device.SecretLister, following every page.
func (l Lister) ListSecrets(ctx context.Context, prefix string) ([]device.SecretSummary, error) {
	var out []device.SecretSummary
	var next *string
	for {
		page, err := l.api.ListSecrets(ctx, &secretsmanager.ListSecretsInput{
			Filters:                []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{prefix}}},
			IncludePlannedDeletion: aws.Bool(true),
			MaxResults:             aws.Int32(100),
			NextToken:              next,
		})
		if err != nil {
			return nil, translate(err, "list secrets")
		}
		for _, e := range page.SecretList {
			name := aws.ToString(e.Name)
			if !strings.HasPrefix(name, prefix) { // the name filter matches prefixes of words too
				continue
			}
			out = append(out, device.SecretSummary{
				ARN: aws.ToString(e.ARN), Name: name, Created: aws.ToTime(e.CreatedDate),
				Deleted: e.DeletedDate != nil, Versions: e.SecretVersionsToStages,
				Schedule:    schedule(e.RotationEnabled, e.RotationLambdaARN, e.RotationRules),
				Description: aws.ToString(e.Description),
			})
		}
		if page.NextToken == nil {
			return out, nil
		}
		next = page.NextToken
	}
}

// schedule is a secret's rotation schedule as the listing reports it.
func schedule(enabled *bool, fn *string, rules *types.RotationRulesType) device.SecretSchedule {
	st := device.SecretSchedule{Enabled: aws.ToBool(enabled), Function: aws.ToString(fn)}
	if rules != nil {
		st.EveryDays = int(aws.ToInt64(rules.AutomaticallyAfterDays))
		st.Schedule = aws.ToString(rules.ScheduleExpression)
		st.Window = aws.ToString(rules.Duration)
	}
	return st
}
