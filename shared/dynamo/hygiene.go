package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/device"
)

var _ device.HygieneStore = (*Store)(nil)

// MarkInactivityWarning implements device.HygieneStore: one conditional
// UpdateItem. The version is left alone: the mark is not an edit, and a
// client's concurrent edit must not fail on it.
func (s *Store) MarkInactivityWarning(ctx context.Context, mailbox, id string, activity, revokeAt, now time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       deviceKey(mailbox, id),
		UpdateExpression:          aws.String("SET inactWarnAt = :now, inactWarnFor = :act, inactRevokeAt = :rev, actor = :actor"),
		ConditionExpression:       aws.String("#status IN (:active, :disabled) AND (attribute_not_exists(inactWarnFor) OR inactWarnFor < :act)"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: item{":now": num(ms(now)), ":act": num(ms(activity)), ":rev": num(ms(revokeAt)), ":actor": encodeActor(device.ActorFrom(ctx)), ":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled))},
	})
	return translate(err, "mark inactivity warning")
}

// MarkExpiryReminder implements device.HygieneStore: one conditional
// UpdateItem, once per device.
func (s *Store) MarkExpiryReminder(ctx context.Context, mailbox, id string, expiresAt, now time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       deviceKey(mailbox, id),
		UpdateExpression:          aws.String("SET expRemindAt = :now, actor = :actor"),
		ConditionExpression:       aws.String("#status IN (:active, :disabled) AND attribute_not_exists(expRemindAt) AND expMs = :exp"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: item{":now": num(ms(now)), ":exp": num(ms(expiresAt)), ":actor": encodeActor(device.ActorFrom(ctx)), ":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled))},
	})
	return translate(err, "mark expiry reminder")
}

// SetPolicyExpiry implements device.HygieneStore: one conditional
// UpdateItem that also puts the device in the expiring index, as a create
// with an expiry does.
func (s *Store) SetPolicyExpiry(ctx context.Context, mailbox, id string, expiresAt, now time.Time) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       deviceKey(mailbox, id),
		UpdateExpression: aws.String("SET expiresAt = :exp, expMs = :expMs, expPK = :expPK, #ttl = :ttl, " +
			"policyExpAt = :now, updatedAt = :nowS, actor = :actor"),
		ConditionExpression:      aws.String("#status IN (:active, :disabled) AND attribute_not_exists(expiresAt)"),
		ExpressionAttributeNames: map[string]string{"#status": "status", "#ttl": "ttl"},
		ExpressionAttributeValues: item{":exp": str(timeStr(expiresAt)), ":expMs": num(ms(expiresAt)), ":expPK": str(expiringPK),
			":ttl": num(expiresAt.Unix()), ":now": num(ms(now)), ":nowS": str(timeStr(now)), ":actor": encodeActor(device.ActorFrom(ctx)),
			":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled))},
	})
	return translate(err, "set policy expiry")
}

var _ device.NetworkNoter = (*Store)(nil)

// NoteNetwork implements device.NetworkNoter: one conditional UpdateItem
// of the device's map of networks (nets: network -> last seen, ms).
func (s *Store) NoteNetwork(ctx context.Context, mailbox, id, network string, at time.Time, n device.NetworkNote) error {
	names := map[string]string{"#status": "status", "#n": network}
	values := item{":at": num(ms(at)), ":active": str(string(device.StatusActive))}
	var set, cond, remove string
	if n.First {
		// No map yet: a document path into it would be invalid.
		set = "SET nets = :m"
		values[":m"] = &types.AttributeValueMemberM{Value: item{network: num(ms(at))}}
		delete(values, ":at")
		cond = "#status = :active AND attribute_not_exists(nets)"
		delete(names, "#n")
	} else {
		set = "SET nets.#n = :at"
		values[":before"] = num(ms(n.Before))
		cond = "#status = :active AND attribute_exists(nets) AND (attribute_not_exists(nets.#n) OR nets.#n < :before)"
		if n.IsNew {
			set += ", netNew = :net, netNewAt = :at, actor = :actor"
			values[":net"], values[":actor"] = str(network), encodeActor(device.Actor{Kind: device.ActorSystem, Subject: "verify"})
		}
		if n.Evict != "" && n.Evict != network {
			remove = " REMOVE nets.#old"
			names["#old"] = n.Evict
		}
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       deviceKey(mailbox, id),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	return translate(err, "note network")
}

func decodeNetworks(it item) map[string]time.Time {
	m := getM(it, "nets")
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]time.Time, len(m))
	for k := range m {
		out[k] = getMs(m, k)
	}
	return out
}

var _ device.RotationFailureStore = (*Store)(nil)

// RecordRotationFailure implements device.RotationFailureStore: one
// conditional UpdateItem. The condition on the failure's id is what makes
// a redelivered failure change nothing, so the stream announces each
// failure once; so is the one on time: a failure older than the one
// recorded, or than the last password change (rotMs; CloudTrail's times
// are whole seconds, hence the second's allowance), arrives late and is
// not news. A missing item fails the same condition (no upsert of a
// device that is gone). The version is left alone, as for the sweep's
// marks: a client's concurrent edit must not fail on it.
func (s *Store) RecordRotationFailure(ctx context.Context, mailbox, id string, f device.RotationFailure) error {
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              deviceKey(mailbox, id),
		UpdateExpression: aws.String("SET rotErr = :msg, rotErrKind = :kind, rotErrAt = :at, rotErrId = :id, actor = :actor"),
		ConditionExpression: aws.String("#status IN (:active, :disabled) AND (attribute_not_exists(rotErrId) OR rotErrId <> :id)" +
			" AND (attribute_not_exists(rotErrAt) OR rotErrAt <= :at) AND (attribute_not_exists(rotMs) OR rotMs < :atNext)"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: item{":msg": str(f.Message), ":kind": str(f.Kind), ":at": num(ms(f.At)), ":id": str(f.ID), ":atNext": num(ms(f.At) + 1000), ":actor": encodeActor(device.ActorFrom(ctx)), ":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled))},
	})
	return translate(err, "record rotation failure")
}
