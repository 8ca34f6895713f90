package apigw

import (
	"encoding/base64"
	"mime"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apigw/api"
	"github.com/devicepass/devicepass/shared/apperr"
)

// DefaultMaxBody is the largest request body accepted.
const DefaultMaxBody = 64 << 10

// header returns a request header. API Gateway lower-cases header names;
// other callers may not.
func header(ev *events.APIGatewayV2HTTPRequest, name string) string {
	v, _ := lookupHeader(ev, name)
	return v
}

// lookupHeader returns a request header and whether it was sent, so that
// an empty value is told apart from an absent header.
func lookupHeader(ev *events.APIGatewayV2HTTPRequest, name string) (string, bool) {
	name = strings.ToLower(name)
	if v, ok := ev.Headers[name]; ok {
		return v, true
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// readBody checks the encoding, size and content type of the request body
// for route rt and returns it; "" when there is none. A body must be JSON
// when present, and for a route that requires one the content type is
// checked even when it is empty.
func readBody(ev *events.APIGatewayV2HTTPRequest, rt api.Route, maxBody int) (string, error) {
	raw := ev.Body
	if ev.IsBase64Encoded {
		if len(raw) > base64.StdEncoding.EncodedLen(maxBody)+4 {
			return "", errTooLarge(maxBody)
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return "", apperr.New(apperr.Invalid, "the body is marked base64-encoded but is not valid base64")
		}
		raw = string(b)
	}
	if len(raw) > maxBody {
		return "", errTooLarge(maxBody)
	}
	if !utf8.ValidString(raw) {
		// JSON is UTF-8 (RFC 8259); decoding would store U+FFFD in place
		// of the bad bytes, a value the client never sent.
		return "", apperr.New(apperr.Invalid, "the body is not valid UTF-8 (first bad byte at offset %d)", firstInvalidUTF8(raw))
	}
	present := strings.TrimSpace(raw) != ""
	if present || rt.Body == api.BodyRequired {
		if err := checkContentType(header(ev, "content-type"), rt.MediaTypes); err != nil {
			return "", err
		}
	}
	if !present {
		if rt.Body == api.BodyRequired {
			return "", apperr.New(apperr.Invalid, "a JSON object body is required")
		}
		return "", nil
	}
	return raw, nil
}

func errTooLarge(maxBody int) error {
	return apperr.New(apperr.TooLarge, "the body is larger than %d bytes", maxBody)
}

// checkContentType accepts one of mediaTypes, with parameters; a charset
// must be UTF-8, the only encoding JSON allows (RFC 8259).
func checkContentType(ct string, mediaTypes []string) error {
	want := strings.Join(mediaTypes, " or ")
	if ct == "" {
		return apperr.New(apperr.UnsupportedMedia, "a body needs Content-Type: %s", want)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return apperr.New(apperr.UnsupportedMedia, "Content-Type is malformed; send %s", want)
	}
	accepted := false
	for _, m := range mediaTypes {
		if mt == m {
			accepted = true
		}
	}
	if !accepted {
		return apperr.New(apperr.UnsupportedMedia, "this Content-Type is not supported; send %s", want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apperr.New(apperr.UnsupportedMedia, "this charset is not supported; JSON is UTF-8")
	}
	return nil
}

// readQuery returns the query parameters, refusing any that rt does not
// declare, any given twice, and an integer that is not one or is out of
// its documented range.
func readQuery(ev *events.APIGatewayV2HTTPRequest, rt api.Route) (map[string]string, error) {
	var q url.Values
	if ev.RawQueryString != "" {
		var err error
		if q, err = url.ParseQuery(ev.RawQueryString); err != nil {
			return nil, apperr.New(apperr.Invalid, "the query string is malformed")
		}
	} else {
		q = url.Values{}
		for k, v := range ev.QueryStringParameters {
			q[k] = []string{v}
		}
	}
	out := map[string]string{}
	for k, vs := range q {
		i := -1
		for j, p := range rt.Query {
			if p.Name == k {
				i = j
			}
		}
		if i < 0 {
			return nil, apperr.New(apperr.Invalid, "the query has a parameter this route does not know (%s); it takes %s", apperr.Describe(k), queryNames(rt))
		}
		if len(vs) > 1 {
			return nil, apperr.Field(k, "is given more than once")
		}
		if p := rt.Query[i]; p.Integer {
			n, err := strconv.ParseInt(vs[0], 10, 64)
			if err != nil || n < p.Min || n > p.Max {
				return nil, apperr.Field(k, "must be an integer between %d and %d", p.Min, p.Max)
			}
		}
		out[k] = vs[0]
	}
	return out, nil
}

// bindQuery sets the fields of *params, a parameters type of package api,
// from query parameters readQuery checked: each field by its form tag, a
// string or an integer, left nil when absent.
func bindQuery(q map[string]string, params any) error {
	v := reflect.ValueOf(params).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("form"), ",")
		s, ok := q[name]
		if !ok || name == "" || f.Type.Kind() != reflect.Pointer {
			continue
		}
		p := reflect.New(f.Type.Elem())
		switch p.Elem().Kind() {
		case reflect.String:
			p.Elem().SetString(s)
		case reflect.Int, reflect.Int64, reflect.Int32:
			n, err := strconv.ParseInt(s, 10, p.Elem().Type().Bits())
			if err != nil {
				return apperr.Field(name, "must be an integer")
			}
			p.Elem().SetInt(n)
		default:
			return apperr.New(apperr.Internal, "query parameter %s has a type the handler does not know", name)
		}
		v.Field(i).Set(p)
	}
	return nil
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// firstInvalidUTF8 returns the offset of the first byte of s that is not
// part of a valid UTF-8 encoding.
func firstInvalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return len(s)
}

// queryNames lists the query parameters route rt takes, for an error.
func queryNames(rt api.Route) string {
	if len(rt.Query) == 0 {
		return "none"
	}
	names := make([]string, len(rt.Query))
	for i, p := range rt.Query {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
