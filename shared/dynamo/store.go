// Package dynamo implements the device store ports on Amazon DynamoDB, in one table
// whose design docs/architecture.md describes. Every write that depends on
// an item's state is conditional, and the cap on live devices is enforced
// in the same transaction that puts a device.
package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"math/rand/v2"

	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
	"github.com/devicepass/devicepass/shared/verifier"
)

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store implements every store port of package device (DeviceStore,
// EnrollmentStore, RotationStore, VerifyStore, RepairStore) on one
// DynamoDB table.
type Store struct {
	api   API
	table string
}

var (
	_ device.DeviceStore     = (*Store)(nil)
	_ device.EnrollmentStore = (*Store)(nil)
	_ device.RotationStore   = (*Store)(nil)
	_ device.VerifyStore     = (*Store)(nil)
	_ device.RepairStore     = (*Store)(nil)
)

// New returns a Store on table.
func New(api API, table string) (*Store, error) {
	if api == nil || table == "" {
		return nil, errors.New("dynamo: New needs a client and a table name")
	}
	return &Store{api: api, table: table}, nil
}

// Key prefixes and sort keys of the table design.
const (
	mailboxPrefix = "MBX#"
	devicePrefix  = "DEV#"
	endedPrefix   = "END#" // ended devices: outside the range verification reads
	mailboxSK     = "#MAILBOX"
	netPrefix     = "#NET#"
	idemPrefix    = "IDEM#"
	idemSK        = "#IDEM"
)

func mailboxPK(address string) string { return mailboxPrefix + address }

func key(pk, sk string) item { return item{"PK": str(pk), "SK": str(sk)} }

func mailboxKey(address string) item { return key(mailboxPK(address), mailboxSK) }

func deviceKey(address, id string) item { return key(mailboxPK(address), devicePrefix+id) }

func endedKey(address, id string) item { return key(mailboxPK(address), endedPrefix+id) }

// Sort-key bounds. Every key of a mailbox partition that verification
// reads (the mailbox item, the network counters, live devices) sorts
// before endedPrefix; devices live and ended sort from devicePrefix up to
// devicesEnd.
const devicesEnd = "END$" // just past every "END#..." key

func idemKey(h verifier.Hash) item { return key(idemPrefix+string(h), idemSK) }

// SaveMailbox implements device.DeviceStore.
func (s *Store) SaveMailbox(ctx context.Context, address, owner, by string, now time.Time) (device.Mailbox, bool, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       mailboxKey(address),
		UpdateExpression: aws.String("SET #owner = :owner, address = :addr, mbxDomain = :domain, updatedAt = :now, kind = :kind, " +
			"createdAt = if_not_exists(createdAt, :now), createdBy = if_not_exists(createdBy, :by), " +
			"live = if_not_exists(live, :zero), ver = if_not_exists(ver, :zero) + :one, actor = :actor"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: item{
			":owner": str(owner), ":addr": str(address), ":now": str(timeStr(now)), ":by": str(by),
			// The domain keys the byDomain index (see mailboxes.go).
			":domain": str(device.DomainOf(address)),
			":zero":   num(0), ":one": num(1), ":kind": str("mailbox"),
			// Who registered the mailbox or changed its owner, for the
			// audit trail (WithActor's contract, as every other write).
			":actor": encodeActor(device.ActorFrom(ctx)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return device.Mailbox{}, false, translate(err, "save mailbox")
	}
	m := decodeMailbox(out.Attributes)
	return m, m.Version == 1, nil
}

func decodeMailbox(it item) device.Mailbox {
	return device.Mailbox{
		Address:   getS(it, "address"),
		Owner:     getS(it, "owner"),
		CreatedAt: getT(it, "createdAt"),
		CreatedBy: getS(it, "createdBy"),
		UpdatedAt: getT(it, "updatedAt"),
		Live:      int(getN(it, "live")),
		Version:   getN(it, "ver"),
	}
}

// Lookup implements device.MailboxReader with one BatchGetItem.
func (s *Store) Lookup(ctx context.Context, q device.LookupQuery) (device.LookupResult, error) {
	keys := []item{mailboxKey(q.Mailbox)}
	if q.DeviceID != "" {
		keys = append(keys, deviceKey(q.Mailbox, q.DeviceID), endedKey(q.Mailbox, q.DeviceID))
	}
	if q.Idempotency != "" {
		keys = append(keys, idemKey(q.Idempotency))
	}
	if q.PolicyDomain != "" {
		keys = append(keys, policyKey(q.PolicyDomain))
	}
	var res device.LookupResult
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return res, translate(err, "lookup")
			}
		}
		if attempt > 8 {
			return res, apperr.New(apperr.Unavailable, "lookup: DynamoDB left keys unprocessed; retry")
		}
		out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return res, translate(err, "lookup")
		}
		for _, it := range out.Responses[s.table] {
			sk := getS(it, "SK")
			switch {
			case sk == mailboxSK:
				m := decodeMailbox(it)
				res.Mailbox = &m
			case strings.HasPrefix(sk, devicePrefix), strings.HasPrefix(sk, endedPrefix):
				d := decodeDevice(it)
				res.Device = &d
			case sk == idemSK:
				r := decodeIdem(it)
				res.Idempotency = &r
			case sk == policySK:
				p := DecodePolicy(it)
				res.Policy = &p
			}
		}
		req = out.UnprocessedKeys
	}
	return res, nil
}

func decodeIdem(it item) device.IdempotencyRecord {
	return device.IdempotencyRecord{
		Key:         verifier.Hash(strings.TrimPrefix(getS(it, "PK"), idemPrefix)),
		Mailbox:     getS(it, "mailbox"),
		DeviceID:    getS(it, "deviceId"),
		Fingerprint: verifier.Hash(getS(it, "fp")),
		Expires:     time.Unix(getN(it, "ttl"), 0).UTC(),
	}
}

// encodeDevice returns the item of a device.
func encodeDevice(d device.Device) item {
	it := deviceKey(d.Mailbox, d.ID)
	it["kind"] = str("device")
	it["mailbox"] = str(d.Mailbox)
	it[reconcilePK] = str(reconcileSlice(d.Mailbox))
	it["id"] = str(d.ID)
	it["name"] = str(d.Name)
	if d.Note != "" {
		it["note"] = str(d.Note)
	}
	if d.User != "" {
		it["user"] = str(d.User)
	}
	it["scopes"] = strList(scopeStrings(d.Scopes))
	it["allowIps"] = strList(prefixStrings(d.AllowIPs))
	if !d.ExpiresAt.IsZero() {
		it["expiresAt"] = str(timeStr(d.ExpiresAt))
		it["expMs"] = num(ms(d.ExpiresAt))
		it["ttl"] = num(d.ExpiresAt.Unix())
		if d.Status.Live() {
			it["expPK"] = str(expiringPK) // in the sparse index the sweep reads
		}
	}
	if d.Status.Live() {
		// In the sparse index of a domain's live devices (compliance, the
		// policy sweep).
		it[domainIndexPK], it[domainIndexSK] = str(device.DomainOf(d.Mailbox)), str(domainSK(d.Mailbox, d.ID))
	}
	if r := d.Rotation; r != nil {
		it["rot"] = encodeRotation(r)
	}
	it["graceMs"] = num(d.Grace.Milliseconds())
	it["status"] = str(string(d.Status))
	it["createdAt"] = str(timeStr(d.CreatedAt))
	it["createdBy"] = str(d.CreatedBy)
	it["updatedAt"] = str(timeStr(d.UpdatedAt))
	it["rotatedAt"] = str(timeStr(d.RotatedAt))
	if !d.RotatedAt.IsZero() {
		// rotatedAt in milliseconds, for conditions (RecordRotationFailure).
		it["rotMs"] = num(ms(d.RotatedAt))
	}
	it["secretArn"] = str(d.SecretARN)
	if v := d.Current; v != nil {
		it["curV"], it["curH"] = str(v.Version), str(string(v.Hash))
	}
	if d.EndReason != "" {
		it["endReason"] = str(d.EndReason)
	}
	it["ver"] = num(d.Version)
	return it
}

func encodeRotation(r *device.RotationPolicy) types.AttributeValue {
	m := item{"graceMs": num(r.Grace.Milliseconds())}
	if r.EveryDays != 0 {
		m["everyDays"] = num(int64(r.EveryDays))
	}
	if r.Schedule != "" {
		m["schedule"] = str(r.Schedule)
	}
	if r.Window != "" {
		m["window"] = str(r.Window)
	}
	return &types.AttributeValueMemberM{Value: m}
}

func scopeStrings(sc []device.Scope) []string {
	out := make([]string, len(sc))
	for i, s := range sc {
		out[i] = string(s)
	}
	return out
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// decodeDevice is the inverse of encodeDevice, plus the fields rotation
// and verification maintain.
func decodeDevice(it item) device.Device {
	d := device.Device{
		Mailbox:          getS(it, "mailbox"),
		ID:               getS(it, "id"),
		Name:             getS(it, "name"),
		Note:             getS(it, "note"),
		User:             getS(it, "user"),
		Status:           device.Status(getS(it, "status")),
		Grace:            time.Duration(getN(it, "graceMs")) * time.Millisecond,
		CreatedAt:        getT(it, "createdAt"),
		CreatedBy:        getS(it, "createdBy"),
		UpdatedAt:        getT(it, "updatedAt"),
		RotatedAt:        getT(it, "rotatedAt"),
		ExpiresAt:        getT(it, "expiresAt"),
		LastUsedAt:       getMs(it, "lastUsedMs"),
		LastUsedProtocol: device.Scope(getS(it, "lastUsedProto")),
		LastUsedIP:       getS(it, "lastUsedIp"),
		SecretARN:        getS(it, "secretArn"),
		PreviousUntil:    getMs(it, "prevUntil"),
		PendingBase:      getS(it, "pendBase"),
		PendingManual:    getBool(it, "pendManual"),
		PendingAt:        getMs(it, "pendAt"),
		LastActor:        decodeActor(getM(it, "actor")),
		EndReason:        getS(it, "endReason"),
		// The policy sweep's marks (shared/dynamo/hygiene.go).
		InactivityWarnedAt:  getMs(it, "inactWarnAt"),
		InactivityWarnedFor: getMs(it, "inactWarnFor"),
		InactivityRevokeAt:  getMs(it, "inactRevokeAt"),
		ExpiryRemindedAt:    getMs(it, "expRemindAt"),
		PolicyExpirySetAt:   getMs(it, "policyExpAt"),
		Networks:            decodeNetworks(it),
		NewNetwork:          getS(it, "netNew"),
		NewNetworkAt:        getMs(it, "netNewAt"),
		// The last failed rotation (RecordRotationFailure).
		RotationError:     getS(it, "rotErr"),
		RotationErrorKind: getS(it, "rotErrKind"),
		RotationErrorAt:   getMs(it, "rotErrAt"),
		RotationErrorID:   getS(it, "rotErrId"),
		Version:           getN(it, "ver"),
	}
	for _, s := range getL(it, "scopes") {
		d.Scopes = append(d.Scopes, device.Scope(s))
	}
	for _, s := range getL(it, "allowIps") {
		if p, err := netip.ParsePrefix(s); err == nil {
			d.AllowIPs = append(d.AllowIPs, p)
		}
	}
	if m := getM(it, "rot"); m != nil {
		d.Rotation = &device.RotationPolicy{
			EveryDays: int(getN(m, "everyDays")),
			Schedule:  getS(m, "schedule"),
			Window:    getS(m, "window"),
			Grace:     time.Duration(getN(m, "graceMs")) * time.Millisecond,
		}
	}
	if v := getS(it, "curV"); v != "" {
		d.Current = &device.Verifier{Version: v, Hash: verifier.Hash(getS(it, "curH"))}
	}
	if v := getS(it, "prevV"); v != "" {
		d.Previous = &device.Verifier{Version: v, Hash: verifier.Hash(getS(it, "prevH"))}
	}
	if v := getS(it, "pendV"); v != "" {
		d.Pending = &device.Verifier{Version: v, Hash: verifier.Hash(getS(it, "pendH"))}
	}
	return d
}

// CreateDevice implements device.DeviceStore with one TransactWriteItems.
func (s *Store) CreateDevice(ctx context.Context, d device.Device, owner string, maxLive int, idem *device.IdempotencyRecord) error {
	var extra *types.TransactWriteItem
	if idem != nil {
		it := idemKey(idem.Key)
		it["kind"] = str("idempotency")
		it["mailbox"] = str(idem.Mailbox)
		it["deviceId"] = str(idem.DeviceID)
		it["fp"] = str(string(idem.Fingerprint))
		it["ttl"] = num(idem.Expires.Unix())
		extra = &types.TransactWriteItem{Put: &types.Put{
			TableName:           &s.table,
			Item:                it,
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}}
	}
	return s.putDevice(ctx, d, owner, maxLive, extra, "the device exists already")
}

// RedeemDevice implements device.EnrollmentStore: CreateDevice's transaction plus the
// enrollment's conditional update.
func (s *Store) RedeemDevice(ctx context.Context, d device.Device, owner string, maxLive int, use device.EnrollmentUse) error {
	extra := &types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       enrollmentKey(use.ID),
		UpdateExpression:          aws.String("SET #status = :used, usedAt = :at, usedBy = :by, deviceId = :dev, actor = :actor"),
		ConditionExpression:       aws.String("#status = :open AND expMs > :atMs AND mailbox = :mbx"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: item{":used": str(string(device.EnrollmentUsed)), ":open": str(string(device.EnrollmentOpen)), ":at": str(timeStr(use.At)), ":atMs": num(ms(use.At)), ":by": str(use.By), ":dev": str(d.ID), ":mbx": str(d.Mailbox), ":actor": encodeActor(device.ActorFrom(ctx))},
	}}
	return s.putDevice(ctx, d, owner, maxLive, extra, "the enrollment link is no longer open")
}

// putDevice puts d and counts it in its mailbox, with one more item in the
// same transaction; a failed condition on that item is Conflict(msg).
func (s *Store) putDevice(ctx context.Context, d device.Device, owner string, maxLive int, extra *types.TransactWriteItem, msg string) error {
	it := encodeDevice(d)
	it["actor"] = encodeActor(device.ActorFrom(ctx))
	items := []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:           &s.table,
			Item:                it,
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}},
		{Update: &types.Update{
			TableName:                           &s.table,
			Key:                                 mailboxKey(d.Mailbox),
			UpdateExpression:                    aws.String("SET live = live + :one, ver = ver + :one"),
			ConditionExpression:                 aws.String("attribute_exists(PK) AND #owner = :owner AND live < :max"),
			ExpressionAttributeNames:            map[string]string{"#owner": "owner"},
			ExpressionAttributeValues:           item{":one": num(1), ":owner": str(owner), ":max": num(int64(maxLive))},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	}
	if extra != nil {
		items = append(items, *extra)
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for i, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) != "ConditionalCheckFailed" {
				continue
			}
			switch i {
			case 0:
				return apperr.Wrap(err, apperr.Conflict, "the device exists already")
			case 1:
				if r.Item == nil || getS(r.Item, "owner") != owner {
					return apperr.Wrap(err, apperr.NotFound, "mailbox is gone or its owner changed")
				}
				return apperr.Wrap(err, apperr.LimitReached, "this mailbox has %d devices, the most allowed; revoke one first", maxLive)
			default:
				return apperr.Wrap(err, apperr.Conflict, "%s", msg)
			}
		}
		// Cancelled for another reason (a conflicting transaction): retryable.
		return apperr.Wrap(err, apperr.Unavailable, "create device: the transaction was cancelled; retry")
	}
	return translate(err, "create device")
}

// GetDevice implements device.MailboxReader: a live device and an ended
// one have different keys, so it asks for both in one BatchGetItem
// (through Lookup) rather than two GetItems.
func (s *Store) GetDevice(ctx context.Context, mailbox, id string) (device.Device, error) {
	res, err := s.Lookup(ctx, device.LookupQuery{Mailbox: mailbox, DeviceID: id})
	if err != nil {
		return device.Device{}, err
	}
	if res.Device == nil {
		return device.Device{}, apperr.New(apperr.NotFound, "no device %s in mailbox %s", id, mailbox)
	}
	return *res.Device, nil
}

// ListDevices implements device.DeviceStore: one Query over the live
// devices and then the ended ones, each in id order. The cursor is the
// last device of the previous page (ended or not, and its id), so it
// cannot reach outside the mailbox's devices.
func (s *Store) ListDevices(ctx context.Context, mailbox, cursor string, limit int) ([]device.Device, string, error) {
	var start item
	if cursor != "" {
		sk, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		start = key(mailboxPK(mailbox), sk)
	}
	var out []device.Device
	for {
		res, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: item{":pk": str(mailboxPK(mailbox)), ":lo": str(devicePrefix), ":hi": str(devicesEnd)},
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(int32(limit + 1 - len(out))),
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, "", translate(err, "list devices")
		}
		for _, it := range res.Items {
			out = append(out, decodeDevice(it))
		}
		if len(out) > limit {
			return out[:limit], encodeCursor(out[limit-1]), nil
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

// encodeCursor names the last device of a page: "d1:" and the id of a live
// device, "e1:" and the id of an ended one (the two key ranges).
func encodeCursor(d device.Device) string {
	tag := "d1:"
	if !d.Status.Live() {
		tag = "e1:"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(tag + d.ID))
}

// decodeCursor returns the sort key a cursor names.
func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	bad := apperr.Field("cursor", "is not a cursor this API returned")
	if err != nil || len(b) != 3+26 {
		return "", bad
	}
	switch string(b[:3]) {
	case "d1:":
		return devicePrefix + string(b[3:]), nil
	case "e1:":
		return endedPrefix + string(b[3:]), nil
	}
	return "", bad
}

// UpdateDevice implements device.DeviceStore; its condition is
// device.CheckUpdate.
func (s *Store) UpdateDevice(ctx context.Context, d device.Device) (device.Device, error) {
	set := []string{"#name = :name", "scopes = :scopes", "allowIps = :ips", "#status = :status", "updatedAt = :now", "graceMs = :grace", "ver = ver + :one", "actor = :actor"}
	var remove []string
	vals := item{
		":name": str(d.Name), ":scopes": strList(scopeStrings(d.Scopes)), ":ips": strList(prefixStrings(d.AllowIPs)),
		":status": str(string(d.Status)), ":now": str(timeStr(d.UpdatedAt)), ":grace": num(d.Grace.Milliseconds()),
		":one": num(1), ":ver": num(d.Version), ":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled)),
		":actor": encodeActor(device.ActorFrom(ctx)),
	}
	if d.Note != "" {
		set, vals[":note"] = append(set, "note = :note"), str(d.Note)
	} else {
		remove = append(remove, "note")
	}
	if d.User != "" {
		set, vals[":user"] = append(set, "#user = :user"), str(d.User)
	} else {
		remove = append(remove, "#user")
	}
	if d.Rotation != nil {
		set, vals[":rot"] = append(set, "rot = :rot"), encodeRotation(d.Rotation)
	} else {
		remove = append(remove, "rot")
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       deviceKey(d.Mailbox, d.ID),
		UpdateExpression:          &expr,
		ConditionExpression:       aws.String("ver = :ver AND #status IN (:active, :disabled)"),
		ExpressionAttributeNames:  map[string]string{"#name": "name", "#status": "status", "#user": "user"},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		if apperr.Is(translate(err, ""), apperr.Conflict) {
			return device.Device{}, apperr.Wrap(err, apperr.Conflict, "device %s changed meanwhile; read it again and retry", d.ID)
		}
		return device.Device{}, translate(err, "update device")
	}
	return decodeDevice(out.Attributes), nil
}

// EndDevice implements device.DeviceEnder with one TransactWriteItems that
// moves the device from its live key ("DEV#<id>") to its ended key
// ("END#<id>"), without verifiers, and decrements the mailbox's live
// count; the device's condition is device.CheckEnd and that the item is
// still the version d was read at, so the ended copy is the device as
// stored. If the device changed meanwhile but is still live, DynamoDB
// returns it with the refusal and the move is tried again from it.
// Ended devices thus cost verification nothing: its Query stops before
// "END#".
func (s *Store) EndDevice(ctx context.Context, d device.Device, status device.Status, by string, now time.Time) (device.Device, error) {
	for try := 0; ; try++ {
		ended, err := s.endDevice(ctx, d, status, by, now)
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			if err != nil {
				return device.Device{}, translate(err, "end device")
			}
			return ended, nil
		}
		if len(tc.CancellationReasons) == 0 || aws.ToString(tc.CancellationReasons[0].Code) != "ConditionalCheckFailed" {
			if len(tc.CancellationReasons) > 1 && aws.ToString(tc.CancellationReasons[1].Code) == "ConditionalCheckFailed" {
				return device.Device{}, apperr.Wrap(err, apperr.Conflict, "device %s is no longer live", d.ID)
			}
			return device.Device{}, translate(err, "end device")
		}
		stored := tc.CancellationReasons[0].Item
		if stored == nil {
			return device.Device{}, apperr.Wrap(err, apperr.Conflict, "device %s is no longer live", d.ID)
		}
		cur := decodeDevice(stored)
		if why := device.CheckEnd(cur); why != nil {
			return device.Device{}, apperr.Wrap(err, apperr.Conflict, "%s", messageOf(why))
		}
		if try == 3 {
			return device.Device{}, apperr.Wrap(err, apperr.Unavailable, "end device %s: it kept changing; retry", d.ID)
		}
		d = cur
	}
}

func (s *Store) endDevice(ctx context.Context, d device.Device, status device.Status, by string, now time.Time) (device.Device, error) {
	ended := d
	ended.Status, ended.UpdatedAt, ended.Version = status, now, d.Version+1
	ended.Current, ended.Previous, ended.Pending, ended.PreviousUntil, ended.PendingBase = nil, nil, nil, time.Time{}, ""
	ended.PendingManual, ended.PendingAt = false, time.Time{}
	ended.LastActor = device.ActorFrom(ctx)
	// Why it ended, when not by a plain revoke or expiry, for the event
	// and the audit entry.
	ended.EndReason = device.EndReasonFrom(ctx)
	it := encodeEnded(ended, by, now)
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                           &s.table,
			Key:                                 deviceKey(d.Mailbox, d.ID),
			ConditionExpression:                 aws.String("#status IN (:active, :disabled) AND ver = :ver"),
			ExpressionAttributeNames:            map[string]string{"#status": "status"},
			ExpressionAttributeValues:           item{":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled)), ":ver": num(d.Version)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Update: &types.Update{
			TableName:                 &s.table,
			Key:                       mailboxKey(d.Mailbox),
			UpdateExpression:          aws.String("SET live = live - :one, ver = ver + :one"),
			ConditionExpression:       aws.String("attribute_exists(PK) AND live > :zero"),
			ExpressionAttributeValues: item{":one": num(1), ":zero": num(0)},
		}},
		{Put: &types.Put{TableName: &s.table, Item: it}},
	}})
	return ended, err
}

// encodeEnded returns the item of an ended device, at its ended key: its
// metadata and last use for the listing and the audit trail, no
// verifiers, no TTL and no place in the expiring index.
func encodeEnded(d device.Device, by string, now time.Time) item {
	it := encodeDevice(d)
	it["SK"] = str(endedPrefix + d.ID)
	delete(it, "expPK")
	delete(it, "ttl")
	if !d.LastUsedAt.IsZero() {
		it["lastUsedMs"] = num(ms(d.LastUsedAt))
		it["lastUsedProto"] = str(string(d.LastUsedProtocol))
		if d.LastUsedIP != "" {
			it["lastUsedIp"] = str(d.LastUsedIP)
		}
	}
	it["endedAt"], it["endedBy"] = str(timeStr(now)), str(by)
	it["actor"] = encodeActor(d.LastActor)
	return it
}

// BeginRotation implements device.RotationStore with one conditional
// UpdateItem. The condition is device.CheckBeginRotation written as a
// condition expression; when DynamoDB refuses it, the guard run on the
// item DynamoDB returns says why (or that an earlier run began this
// rotation already, which succeeds).
func (s *Store) BeginRotation(ctx context.Context, mailbox, id, version, base string, manual bool, now time.Time) (device.Device, error) {
	vals := item{":v": str(version), ":base": str(base), ":now": num(ms(now)),
		":active": str(string(device.StatusActive))}
	set := "SET pendV = :v, pendBase = :base, pendAt = :now"
	remove := " REMOVE pendH"
	cond := "(attribute_not_exists(expMs) OR expMs > :now) AND (attribute_not_exists(pendV) OR pendV <> :v)" +
		" AND curV = :base AND curV <> :v AND (attribute_not_exists(prevV) OR prevV <> :v)"
	if manual {
		set += ", pendManual = :true"
		vals[":true"], vals[":disabled"] = &types.AttributeValueMemberBOOL{Value: true}, str(string(device.StatusDisabled))
		cond = "#status IN (:active, :disabled) AND " + cond
	} else {
		remove += ", pendManual"
		vals[":hold"] = num(ms(now.Add(-device.RegenerateHold)))
		cond = "#status = :active AND " + cond + " AND (attribute_not_exists(pendManual) OR pendAt < :hold)"
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 deviceKey(mailbox, id),
		UpdateExpression:                    aws.String(set + remove),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            map[string]string{"#status": "status"},
		ExpressionAttributeValues:           vals,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	d, err := s.guarded(ctx, mailbox, id, out, err, "begin rotation", func(d device.Device) error {
		return device.CheckBeginRotation(d, version, base, manual, now)
	})
	if errors.Is(err, device.ErrAlreadyPending) {
		return d, nil // an earlier run began this rotation
	}
	return d, err
}

// guarded decodes a conditional UpdateItem's answer: the returned item on
// success; on a refused condition, the item as it is with the Conflict
// that check (the write's guard) gives for it, or NotFound if there is no
// item. A guard that passes on the refused item (it changed between the
// condition and the read, which one request cannot see) still answers
// Conflict.
func (s *Store) guarded(ctx context.Context, mailbox, id string, out *dynamodb.UpdateItemOutput, err error, op string, check func(device.Device) error) (device.Device, error) {
	if err == nil {
		return decodeDevice(out.Attributes), nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return device.Device{}, translate(err, op)
	}
	stored := ccf.Item
	if stored == nil {
		// No live item: the device may have ended (moved to its ended
		// key). One more read, on this refusal only, says so.
		g, gerr := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: endedKey(mailbox, id), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return device.Device{}, translate(gerr, op)
		}
		stored = g.Item
	}
	if stored == nil {
		return device.Device{}, apperr.Wrap(err, apperr.NotFound, "%s: no such device", op)
	}
	d := decodeDevice(stored)
	why := check(d)
	if errors.Is(why, device.ErrAlreadyPending) {
		return d, why
	}
	if why == nil {
		return d, apperr.Wrap(err, apperr.Conflict, "%s: the device changed meanwhile", op)
	}
	return d, apperr.Wrap(err, apperr.Conflict, "%s", messageOf(why))
}

func messageOf(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	return err.Error()
}

// SetPending implements device.RotationStore; its condition is
// device.CheckSetPending.
func (s *Store) SetPending(ctx context.Context, mailbox, id, version string, hash verifier.Hash) (device.Device, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.table,
		Key:                                 deviceKey(mailbox, id),
		UpdateExpression:                    aws.String("SET pendH = :h"),
		ConditionExpression:                 aws.String("pendV = :v AND (attribute_not_exists(curH) OR curH <> :h)"),
		ExpressionAttributeValues:           item{":h": str(string(hash)), ":v": str(version)},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return s.guarded(ctx, mailbox, id, out, err, "set pending verifier", func(d device.Device) error { return device.CheckSetPending(d, version, hash) })
}

// rotationErrorAttrs are the last failed rotation's attributes, removed
// by the write that promotes a new password (a rotation or a regenerate
// that succeeded): the error is the last one only until then.
const rotationErrorAttrs = "rotErr, rotErrKind, rotErrAt, rotErrId"

// Promote implements device.RotationStore; its condition is
// device.CheckPromote.
func (s *Store) Promote(ctx context.Context, mailbox, id, version string, now, fixedUntil time.Time) (device.Device, error) {
	until := ":now + graceMs"
	vals := item{":v": str(version), ":at": str(timeStr(now)), ":atMs": num(ms(now)), ":actor": encodeActor(device.ActorFrom(ctx))}
	if fixedUntil.IsZero() {
		vals[":now"] = num(ms(now))
	} else {
		until = ":until"
		vals[":until"] = num(ms(fixedUntil))
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       deviceKey(mailbox, id),
		UpdateExpression: aws.String("SET prevV = curV, prevH = curH, prevUntil = " + until +
			", curV = pendV, curH = pendH, rotatedAt = :at, rotMs = :atMs, actor = :actor REMOVE pendV, pendH, pendBase, pendAt, pendManual, " + rotationErrorAttrs),
		ConditionExpression:                 aws.String("pendV = :v AND attribute_exists(pendH) AND attribute_exists(curV)"),
		ExpressionAttributeValues:           vals,
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return s.guarded(ctx, mailbox, id, out, err, "promote verifier", func(d device.Device) error { return device.CheckPromote(d, version) })
}

// Replace implements device.RotationStore with one conditional UpdateItem:
// a regenerate's promotion, written without a pending step first. The
// condition is device.CheckReplace: curV = :base is the compare and swap
// against the version the regenerate read, so a rotation that promoted
// meanwhile makes it refuse (and the engine retry on the new base); the
// REMOVE of the pending attributes is what makes a scheduled rotation in
// flight refuse at its next step.
func (s *Store) Replace(ctx context.Context, mailbox, id, version string, hash verifier.Hash, base string, now, until time.Time) (device.Device, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       deviceKey(mailbox, id),
		UpdateExpression: aws.String("SET prevV = curV, prevH = curH, prevUntil = :until, curV = :v, curH = :h, rotatedAt = :at, rotMs = :atMs, actor = :actor " +
			"REMOVE pendV, pendH, pendBase, pendAt, pendManual, " + rotationErrorAttrs),
		ConditionExpression: aws.String("#status IN (:active, :disabled) AND (attribute_not_exists(expMs) OR expMs > :now)" +
			" AND curV = :base AND curV <> :v AND curH <> :h AND (attribute_not_exists(prevV) OR prevV <> :v)" +
			" AND (attribute_not_exists(pendV) OR pendV <> :v)"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: item{":v": str(version), ":h": str(string(hash)), ":base": str(base),
			":now": num(ms(now)), ":until": num(ms(until)), ":at": str(timeStr(now)), ":atMs": num(ms(now)),
			":active": str(string(device.StatusActive)), ":disabled": str(string(device.StatusDisabled)),
			":actor": encodeActor(device.ActorFrom(ctx))},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return s.guarded(ctx, mailbox, id, out, err, "replace verifier", func(d device.Device) error {
		return device.CheckReplace(d, version, hash, base, now)
	})
}

// Candidates implements device.CandidateReader with one strongly consistent Query of
// the mailbox's partition up to the ended devices: its live devices and its
// network counters together; ended devices, however many, are not read.
func (s *Store) Candidates(ctx context.Context, mailbox string) (device.Candidates, error) {
	var c device.Candidates
	var start item
	for {
		out, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("PK = :pk AND SK < :ended"),
			ExpressionAttributeValues: item{":pk": str(mailboxPK(mailbox)), ":ended": str(endedPrefix)},
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return c, translate(err, "read candidates")
		}
		for _, it := range out.Items {
			sk := getS(it, "SK")
			switch {
			case strings.HasPrefix(sk, devicePrefix):
				c.Devices = append(c.Devices, decodeDevice(it))
			case strings.HasPrefix(sk, netPrefix):
				c.Networks = append(c.Networks, decodeNetwork(it))
			}
		}
		if out.LastEvaluatedKey == nil {
			return c, nil
		}
		start = out.LastEvaluatedKey
	}
}

// Attempt implements device.VerifyStore with one conditional UpdateItem on
// the network's counter item (SK "#NET#<network>"), whose condition is
// device.CheckAttempt. A failure's update depends on the window the stored
// counter is in (the same, the one before, or none that counts), which
// seen tells; if another request changed the counter since it was read,
// DynamoDB refuses, returns the item, and the guard on that item says
// whether the attempt is throttled or the write is to be tried again for
// the counter as it now is. Only requests racing on one network's counter
// make that second write.
func (s *Store) Attempt(ctx context.Context, mailbox string, a device.Attempt, seen *device.NetworkFailures) error {
	for try := 0; ; try++ {
		in := attemptUpdate(s.table, mailbox, a, seen)
		_, err := s.api.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return translate(err, "count verification")
		}
		var now *device.NetworkFailures
		if ccf.Item != nil {
			n := decodeNetwork(ccf.Item)
			now = &n
		}
		if why := device.CheckAttempt(now, a); why != nil {
			return why
		}
		if try == 3 {
			return apperr.Wrap(err, apperr.Unavailable, "count verification: the counter kept changing; retry")
		}
		seen = now
	}
}

// attemptUpdate writes device.CheckAttempt as a condition: the network is
// under its limit (its counter is of a past episode, or counts fewer than
// the limit in this window and the one before) and, above the mailbox
// ceiling, it has not failed or failed first before a.AdmitBefore.
func attemptUpdate(table, mailbox string, a device.Attempt, seen *device.NetworkFailures) *dynamodb.UpdateItemInput {
	idx := a.Index()
	vals := item{":n": num(idx), ":nm1": num(idx - 1), ":lim": num(int64(a.Limit)), ":ttl": num(a.Expires().Unix())}
	cond := "(attribute_not_exists(w) OR w < :nm1 OR (w = :nm1 AND c < :lim) OR (w = :n AND tot < :lim))"
	if !a.AdmitBefore.IsZero() {
		cond += " AND (attribute_not_exists(w) OR w < :nm1 OR attribute_not_exists(#first) OR #first < :admit)"
		vals[":admit"] = num(ms(a.AdmitBefore))
	}
	var update string
	switch {
	case !a.Failed:
		// Admit only: the counter stays; a first visit leaves a stub that
		// expires with the window.
		update = "SET #ttl = if_not_exists(#ttl, :ttl), net = :net"
	case seen == nil || seen.Window < idx-1:
		update = "SET w = :n, c = :one, p = :zero, tot = :one, #first = :now, #ttl = :ttl, net = :net"
		cond += " AND (attribute_not_exists(w) OR w < :nm1)"
		vals[":one"], vals[":zero"], vals[":now"] = num(1), num(0), num(ms(a.Now))
	case seen.Window == idx-1:
		update = "SET w = :n, p = c, c = :one, tot = c + :one, #ttl = :ttl, net = :net"
		cond += " AND w = :nm1"
		vals[":one"] = num(1)
	default:
		update = "SET #ttl = :ttl, net = :net ADD c :one, tot :one"
		cond += " AND w = :n"
		vals[":one"] = num(1)
	}
	vals[":net"] = str(a.Network)
	names := map[string]string{"#ttl": "ttl"}
	if strings.Contains(cond+update, "#first") {
		names["#first"] = "first"
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           &table,
		Key:                                 key(mailboxPK(mailbox), netPrefix+a.Network),
		UpdateExpression:                    &update,
		ConditionExpression:                 &cond,
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

func decodeNetwork(it item) device.NetworkFailures {
	n := device.NetworkFailures{Network: getS(it, "net"), Window: getN(it, "w"), Count: int(getN(it, "c")), Prev: int(getN(it, "p"))}
	if _, ok := it["first"]; ok {
		n.First = getMs(it, "first")
	}
	return n
}

// TouchLastUsed implements device.VerifyStore; its condition is
// device.CheckTouchLastUsed.
func (s *Store) TouchLastUsed(ctx context.Context, mailbox, id string, at time.Time, protocol device.Scope, ip string, notAfter time.Time) error {
	expr := "SET lastUsedMs = :at, lastUsedProto = :p"
	vals := item{":at": num(ms(at)), ":p": str(string(protocol)), ":na": num(ms(notAfter)), ":active": str(string(device.StatusActive))}
	if ip != "" {
		expr += ", lastUsedIp = :ip"
		vals[":ip"] = str(ip)
	} else {
		expr += " REMOVE lastUsedIp"
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       deviceKey(mailbox, id),
		UpdateExpression:          &expr,
		ConditionExpression:       aws.String("#status = :active AND (attribute_not_exists(lastUsedMs) OR lastUsedMs < :na)"),
		ExpressionAttributeNames:  map[string]string{"#status": "status"},
		ExpressionAttributeValues: vals,
	})
	return translate(err, "touch last used")
}

// backoff is the wait before retrying the keys a BatchGetItem left
// unprocessed: exponential (25 ms doubling, capped at 1.6 s) with full
// jitter, as AWS advises, so that callers throttled together do not retry
// together.
func backoff(attempt int) time.Duration {
	ceiling := 25 * time.Millisecond << min(attempt, 6)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
