package dynamo

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// EnrollmentsIndex is the sparse index of enrollment links by mailbox
// (partition `enrMbx`, only on enrollment items) and expiry (`expMs`), for
// the administrators' list of open links.
const (
	EnrollmentsIndex = "enrollments"
	enrMailboxAttr   = "enrMbx"
)

var _ device.EnrollmentIndex = (*Store)(nil)

// OpenEnrollments implements device.EnrollmentIndex with one Query of the
// enrollments index: links expiring after now, filtered to the open ones
// (a used or cancelled link stays in the index until its TTL).
func (s *Store) OpenEnrollments(ctx context.Context, mailbox string, now time.Time, cursor string, limit int) ([]device.Enrollment, string, error) {
	var start item
	if cursor != "" {
		exp, id, err := decodeEnrollmentCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		if exp <= ms(now) {
			// The rest of the listing expired since: DynamoDB would refuse
			// a start key outside the key condition.
			return nil, "", nil
		}
		start = enrollmentKey(id)
		start[enrMailboxAttr] = str(mailbox)
		start["expMs"] = num(exp)
	}
	var out []device.Enrollment
	for {
		res, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			IndexName:                 aws.String(EnrollmentsIndex),
			KeyConditionExpression:    aws.String("#m = :m AND expMs > :now"),
			FilterExpression:          aws.String("#status = :open"),
			ExpressionAttributeNames:  map[string]string{"#m": enrMailboxAttr, "#status": "status"},
			ExpressionAttributeValues: item{":m": str(mailbox), ":now": num(ms(now)), ":open": str(string(device.EnrollmentOpen))},
			ExclusiveStartKey:         start,
			Limit:                     aws.Int32(int32(limit + 1 - len(out))),
		})
		if err != nil {
			return nil, "", translate(err, "list enrollments")
		}
		for _, it := range res.Items {
			out = append(out, DecodeEnrollment(it))
		}
		if len(out) > limit {
			last := out[limit-1]
			return out[:limit], encodeEnrollmentCursor(ms(last.ExpiresAt), last.ID), nil
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

func encodeEnrollmentCursor(expMs int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("e1:" + strconv.FormatInt(expMs, 10) + ":" + id))
}

func decodeEnrollmentCursor(c string) (int64, string, error) {
	bad := apperr.Field("cursor", "is not a cursor this API returned")
	b, err := base64.RawURLEncoding.DecodeString(c)
	rest, ok := strings.CutPrefix(string(b), "e1:")
	if err != nil || !ok {
		return 0, "", bad
	}
	expS, id, ok := strings.Cut(rest, ":")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || exp <= 0 || len(id) != 43 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return 0, "", bad
	}
	return exp, id, nil
}
