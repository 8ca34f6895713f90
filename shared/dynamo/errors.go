package dynamo

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/devicepass/devicepass/shared/apperr"
)

// translate maps an SDK error to the domain's codes at the boundary.
func translate(err error, op string) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return apperr.Wrap(err, apperr.Conflict, "%s: the item changed or is in another state", op)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return apperr.Wrap(err, apperr.Unavailable, "%s: timed out", op)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
			"InternalServerError", "ServiceUnavailable", "TransactionInProgressException", "LimitExceededException",
			"TransactionCanceledException": // what is left after the callers' condition checks: conflicts with other transactions, throttling
			return apperr.Wrap(err, apperr.Unavailable, "%s: DynamoDB is busy; retry", op)
		case "ValidationException":
			return apperr.Wrap(err, apperr.Internal, "%s: invalid request", op)
		}
		return apperr.Wrap(err, apperr.Internal, "%s failed", op)
	}
	// Network errors and the like: the request may be retried.
	return apperr.Wrap(err, apperr.Unavailable, "%s: DynamoDB unreachable", op)
}
