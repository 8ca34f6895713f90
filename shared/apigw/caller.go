package apigw

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	if a == nil || a.JWT == nil || a.JWT.Claims["sub"] == "" {
		return c, apperr.New(apperr.Unauthenticated, "a valid bearer token is required")
	}
	claims := a.JWT.Claims
	if !exactIdentity(claims["sub"]) {
		return c, apperr.New(apperr.Unauthenticated, "the token's subject has surrounding spaces or control characters; it is not accepted")
	}
	c.Subject = claims["sub"]
	c.Email = claims["email"]
	c.Groups = parseGroups(claims[groupsClaim])
	c.AuthTime = parseUnix(claims["auth_time"])
	return c, nil
}

// exactIdentity reports whether an identity (a subject) is used exactly
// as the identity provider wrote it: valid UTF-8 without control or format
// characters, and without surrounding white space. Trimming would make
// "alice\u3000" act as the owner "alice"; such a subject is refused.
func exactIdentity(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

// parseGroups reads a list claim as HTTP API passes it: flattened to
// "[a b c]", or as a JSON array string, or a single value. Groups are
// identities: separators are ASCII spaces only and nothing else is
// trimmed, so a group padded with other white space matches nothing.
func parseGroups(s string) []string {
	s = strings.Trim(s, " ")
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		var arr []string
		if json.Unmarshal([]byte(s), &arr) == nil {
			out := arr[:0]
			for _, g := range arr {
				if g != "" {
					out = append(out, g)
				}
			}
			return out
		}
		var out []string
		for _, g := range strings.Split(s[1:len(s)-1], " ") {
			if g != "" {
				out = append(out, g)
			}
		}
		return out
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
