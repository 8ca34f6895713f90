package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/devicepass/devicepass/shared/apperr"
)

// DefaultMaxBody is the largest request body accepted.
const DefaultMaxBody = 64 << 10

// value is one decoded member of a JSON body, of its field's type.
type value struct {
	null bool
	str  string
	strs []string
	num  int64
	obj  object
}

// object is a decoded JSON object body: the members present.
type object map[string]value

// str returns a string member and whether it is present and not null.
func (o object) str(name string) (string, bool) {
	v, ok := o[name]
	return v.str, ok && !v.null
}

// header returns a request header. API Gateway lower-cases header names;
// other callers may not.
func header(ev *events.APIGatewayV2HTTPRequest, name string) string {
	name = strings.ToLower(name)
	if v, ok := ev.Headers[name]; ok {
		return v
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// readBody checks the content type and size of the request body and decodes
// it against spec (nil: no members accepted). mediaTypes are the accepted
// content types. A body must be JSON when present, and for a spec that
// requires a body the content type is checked even when it is empty.
func readBody(ev *events.APIGatewayV2HTTPRequest, spec *Body, maxBody int, mediaTypes ...string) (object, error) {
	raw := ev.Body
	if ev.IsBase64Encoded {
		if len(raw) > base64.StdEncoding.EncodedLen(maxBody)+4 {
			return nil, errTooLarge(maxBody)
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "the body is marked base64-encoded but is not valid base64")
		}
		raw = string(b)
	}
	if len(raw) > maxBody {
		return nil, errTooLarge(maxBody)
	}
	present := strings.TrimSpace(raw) != ""
	if present || spec != nil && spec.Required {
		if err := checkContentType(header(ev, "content-type"), mediaTypes); err != nil {
			return nil, err
		}
	}
	if !present {
		if spec != nil && spec.Required {
			return nil, apperr.New(apperr.Invalid, "a JSON object body is required")
		}
		return object{}, nil
	}
	var fields []Field
	if spec != nil {
		fields = spec.Fields
	}
	return decodeJSON(raw, fields)
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
		return apperr.New(apperr.UnsupportedMedia, "Content-Type %s is not supported; send %s", truncate(mt, 64), want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apperr.New(apperr.UnsupportedMedia, "charset %s is not supported; JSON is UTF-8", truncate(cs, 32))
	}
	return nil
}

// decodeJSON decodes one JSON object against fields. Errors never quote the
// body (it may hold a password): they name the position or the member.
func decodeJSON(body string, fields []Field) (object, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// Offset counts the bytes read, the offending one included.
			return nil, apperr.New(apperr.Invalid, "malformed JSON at %s", position(body, se.Offset-1))
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return nil, apperr.New(apperr.Invalid, "malformed JSON: the body ends at %s before the value is complete", position(body, int64(len(body))))
		}
		return nil, apperr.New(apperr.Invalid, "malformed JSON")
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		off := end + int64(len(body[end:])-len(strings.TrimLeft(body[end:], " \t\r\n")))
		return nil, apperr.New(apperr.Invalid, "unexpected data after the JSON value at %s", position(body, off))
	}
	return decodeObject("", raw, fields)
}

// position names a byte offset of body as line, column and offset.
func position(body string, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(body)) {
		off = int64(len(body))
	}
	before := body[:off]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return "line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col) + " (byte " + strconv.FormatInt(off, 10) + ")"
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decodeObject decodes a JSON object whose syntax is known to be valid.
// Member names match exactly (not case-insensitively, as encoding/json
// would), a member may appear once, and every member must be one of fields.
func decodeObject(path string, raw json.RawMessage, fields []Field) (object, error) {
	if firstByte(raw) != '{' {
		if path == "" {
			return nil, apperr.New(apperr.Invalid, "the body must be a JSON object")
		}
		return nil, apperr.Field(path, "must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, apperr.New(apperr.Invalid, "malformed JSON")
	}
	out := object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "malformed JSON")
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, apperr.New(apperr.Invalid, "malformed JSON")
		}
		fp := joinPath(path, truncate(name, 64))
		f, known := findField(fields, name)
		if !known {
			return nil, apperr.Field(fp, "is not a known field")
		}
		if _, dup := out[name]; dup {
			return nil, apperr.Field(fp, "appears more than once")
		}
		val, err := decodeValue(fp, v, f)
		if err != nil {
			return nil, err
		}
		out[name] = val
	}
	for _, f := range fields {
		if v, ok := out[f.Name]; f.Required && (!ok || v.null) {
			return nil, apperr.Field(joinPath(path, f.Name), "is required")
		}
	}
	return out, nil
}

func findField(fields []Field, name string) (Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func firstByte(raw json.RawMessage) byte {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

var typeNames = map[string]string{
	TypeString:  "a string",
	TypeInteger: "an integer",
	TypeArray:   "an array of strings",
	TypeObject:  "an object",
}

// decodeValue decodes one member of type f.Type.
func decodeValue(fp string, raw json.RawMessage, f Field) (value, error) {
	wrongType := apperr.Field(fp, "must be %s", typeNames[f.Type])
	b := firstByte(raw)
	if b == 'n' {
		if !f.Nullable {
			return value{}, apperr.Field(fp, "must be %s, not null", typeNames[f.Type])
		}
		return value{null: true}, nil
	}
	switch f.Type {
	case TypeString:
		var s string
		if b != '"' || json.Unmarshal(raw, &s) != nil {
			return value{}, wrongType
		}
		return value{str: s}, nil
	case TypeInteger:
		var n json.Number
		if b != '-' && (b < '0' || b > '9') || json.Unmarshal(raw, &n) != nil {
			return value{}, wrongType
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return value{}, apperr.Field(fp, "is out of range")
			}
			return value{}, wrongType
		}
		return value{num: i}, nil
	case TypeArray:
		var items []json.RawMessage
		if b != '[' || json.Unmarshal(raw, &items) != nil {
			return value{}, wrongType
		}
		strs := make([]string, len(items))
		for i, it := range items {
			if firstByte(it) != '"' || json.Unmarshal(it, &strs[i]) != nil {
				return value{}, apperr.Field(fp+"["+strconv.Itoa(i)+"]", "must be a string")
			}
		}
		return value{strs: strs}, nil
	case TypeObject:
		o, err := decodeObject(fp, raw, f.Fields)
		if err != nil {
			return value{}, err
		}
		return value{obj: o}, nil
	}
	return value{}, apperr.New(apperr.Internal, "field %s has unknown type %q", fp, f.Type)
}

// readQuery returns the query parameters, refusing any not in allowed and
// any given twice.
func readQuery(ev *events.APIGatewayV2HTTPRequest, allowed []string) (map[string]string, error) {
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
		known := false
		for _, a := range allowed {
			if k == a {
				known = true
			}
		}
		if !known {
			return nil, apperr.Field(truncate(k, 64), "is not a known query parameter")
		}
		if len(vs) > 1 {
			return nil, apperr.Field(k, "is given more than once")
		}
		out[k] = vs[0]
	}
	return out, nil
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
