package apigw

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apperr"
	"github.com/devicepass/devicepass/shared/device"
)

// DefaultGroupsClaim is the claim that lists a caller's groups.
const DefaultGroupsClaim = "cognito:groups"

// callerOf reads the caller from the JWT authorizer's claims. API Gateway
// has validated the token; without claims or a subject there is no caller.
func callerOf(ev *events.APIGatewayV2HTTPRequest, groupsClaim string) (device.Caller, error) {
	c := device.Caller{
		SourceIP:  ev.RequestContext.HTTP.SourceIP,
		UserAgent: ev.RequestContext.HTTP.UserAgent,
		RequestID: ev.RequestContext.RequestID,
	}
	if c.UserAgent == "" {
		c.UserAgent = header(ev, "user-agent")
	}
	a := ev.RequestContext.Authorizer
	if a == nil || a.JWT == nil || strings.TrimSpace(a.JWT.Claims["sub"]) == "" {
		return c, apperr.New(apperr.Unauthenticated, "a valid bearer token is required")
	}
	claims := a.JWT.Claims
	c.Subject = strings.TrimSpace(claims["sub"])
	c.Email = claims["email"]
	c.Groups = parseGroups(claims[groupsClaim])
	c.AuthTime = parseUnix(claims["auth_time"])
	return c, nil
}

// parseGroups reads a list claim as HTTP API passes it: flattened to
// "[a b c]", or as a JSON array string, or a single value.
func parseGroups(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		var arr []string
		if json.Unmarshal([]byte(s), &arr) == nil {
			out := arr[:0]
			for _, g := range arr {
				if g = strings.TrimSpace(g); g != "" {
					out = append(out, g)
				}
			}
			return out
		}
		return strings.Fields(s[1 : len(s)-1])
	}
	return []string{s}
}

// parseUnix reads a NumericDate claim (seconds since the epoch, possibly
// with a fraction); zero if absent or malformed, which makes a step-up
// check fail as it should.
func parseUnix(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f < 1e11) { // also refuses NaN and infinities
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}
