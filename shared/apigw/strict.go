package apigw

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/devicepass/devicepass/shared/apperr"
)

// decodeStrict decodes body, one JSON object, into v, a pointer to a type
// of package api. encoding/json alone would match member names
// case-insensitively, keep the last of a repeated member and ignore unknown
// ones; a first pass over the body against v's type refuses all three, and
// members of the wrong type, with a 400 naming the member. A member is
// required when its field has no omitempty (as oapi-codegen writes a
// required property), and may be null only when its field is a
// nullable.Nullable. Errors never quote the body (it may hold a password):
// they name the position or the member.
func decodeStrict(body string, v any) error {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			// Offset counts the bytes read, the offending one included.
			return apperr.New(apperr.Invalid, "malformed JSON at %s", position(body, se.Offset-1))
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return apperr.New(apperr.Invalid, "malformed JSON: the body ends at %s before the value is complete", position(body, int64(len(body))))
		}
		return apperr.New(apperr.Invalid, "malformed JSON")
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		off := end + int64(len(body[end:])-len(strings.TrimLeft(body[end:], " \t\r\n")))
		return apperr.New(apperr.Invalid, "unexpected data after the JSON value at %s", position(body, off))
	}
	t := reflect.TypeOf(v).Elem()
	if firstByte(raw) != '{' {
		return apperr.New(apperr.Invalid, "the body must be a JSON object")
	}
	raw, err := checkObject("", raw, t)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		// The first pass admitted exactly what the type reads.
		return apperr.Wrap(err, apperr.Internal, "decode a checked body")
	}
	return nil
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

func firstByte(raw json.RawMessage) byte {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// member is one JSON member of a generated struct.
type member struct {
	name     string
	typ      reflect.Type // the value's type: no pointer, no Nullable
	required bool
	nullable bool
}

// membersCache holds the members of each struct type met, by type.
var membersCache sync.Map

// membersOf returns the JSON members of struct type t, in field order.
func membersOf(t reflect.Type) []member {
	if m, ok := membersCache.Load(t); ok {
		return m.([]member)
	}
	var out []member
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		m := member{name: name, typ: f.Type, required: !strings.Contains(","+opts+",", ",omitempty,")}
		if isNullable(m.typ) {
			m.nullable, m.typ = true, m.typ.Elem()
		}
		if m.typ.Kind() == reflect.Pointer {
			m.typ = m.typ.Elem()
		}
		out = append(out, m)
	}
	membersCache.Store(t, out)
	return out
}

// isNullable reports whether t is a nullable.Nullable, which oapi-codegen
// writes for a member that may be null: a map from bool to the value.
func isNullable(t reflect.Type) bool {
	return t.Kind() == reflect.Map && t.Key().Kind() == reflect.Bool && strings.HasSuffix(t.PkgPath(), "/nullable")
}

// checkObject checks a JSON object whose syntax is known to be valid
// against struct type t: member names match exactly, a member appears at
// most once, every member is one of t's, and every required one is there.
// It returns the object as encoding/json will read it: integers written
// with a fraction of zero or an exponent ("1008.0", "1.008e3"), which JSON
// Schema 2020-12 counts as integers, are rewritten in plain digits.
//
// An unknown member's name is never quoted: a client may have pasted a
// password there. The error describes it (length, character classes).
func checkObject(path string, raw json.RawMessage, t reflect.Type) (json.RawMessage, error) {
	members := membersOf(t)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, apperr.New(apperr.Invalid, "malformed JSON")
	}
	seen := map[string]bool{} // name → null
	out := []byte{'{'}
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
		i := findMember(members, name)
		if i < 0 {
			where := "the body"
			if path != "" {
				where = path
			}
			e := apperr.New(apperr.Invalid, "%s has a member that is not a known field (%s); known fields: %s", where, apperr.Describe(name), memberNames(members))
			e.Field = path
			return nil, e
		}
		fp := joinPath(path, name)
		if _, dup := seen[name]; dup {
			return nil, apperr.Field(fp, "appears more than once")
		}
		isNull := firstByte(v) == 'n'
		if isNull && !members[i].nullable {
			return nil, apperr.Field(fp, "must be %s, not null", typeName(members[i].typ))
		}
		seen[name] = isNull
		if !isNull {
			if v, err = checkValue(fp, v, members[i].typ); err != nil {
				return nil, err
			}
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		nb, _ := json.Marshal(name)
		out = append(append(append(out, nb...), ':'), v...)
	}
	for _, m := range members {
		if isNull, ok := seen[m.name]; m.required && (!ok || isNull) {
			return nil, apperr.Field(joinPath(path, m.name), "is required")
		}
	}
	return append(out, '}'), nil
}

// memberNames lists the members of a type, for an error.
func memberNames(members []member) string {
	if len(members) == 0 {
		return "none"
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.name
	}
	return strings.Join(names, ", ")
}

// maxExponentDigits bounds the exponent of a number read as an integer:
// big.Rat would otherwise compute 10^999999999 for "1e999999999".
const maxExponentDigits = 4

// integerDigits returns the JSON number n as plain decimal digits when its
// value is an integer that fits in bits; ok false when it is not an
// integer, inRange false when it is one too large.
func integerDigits(n string, bits int) (digits string, ok, inRange bool) {
	if !strings.ContainsAny(n, ".eE") {
		_, err := strconv.ParseInt(n, 10, bits)
		return n, err == nil || errors.Is(err, strconv.ErrRange), err == nil
	}
	mant, exp, _ := strings.Cut(strings.ToLower(n), "e")
	if len(strings.TrimLeft(exp, "+-0")) > maxExponentDigits {
		if strings.Trim(mant, "-0.") == "" {
			return "0", true, true
		}
		// A huge exponent: a huge integer, or a fraction (negative).
		return "", !strings.HasPrefix(exp, "-"), false
	}
	var r big.Rat
	if _, isRat := r.SetString(n); !isRat {
		return "", false, false
	}
	if !r.IsInt() {
		return "", false, false
	}
	i := r.Num()
	if i.BitLen() >= bits {
		return "", true, false
	}
	return i.String(), true, true
}

func findMember(members []member, name string) int {
	for i, m := range members {
		if m.name == name {
			return i
		}
	}
	return -1
}

// typeName names a type as the errors do.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return "a value"
}

// checkValue checks one non-null value against type t and returns it as
// encoding/json will read it (see checkObject).
func checkValue(fp string, raw json.RawMessage, t reflect.Type) (json.RawMessage, error) {
	wrongType := apperr.Field(fp, "must be %s", typeName(t))
	b := firstByte(raw)
	switch t.Kind() {
	case reflect.String:
		var s string
		if b != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, wrongType
		}
	case reflect.Bool:
		if b != 't' && b != 'f' {
			return nil, wrongType
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n json.Number
		if b != '-' && (b < '0' || b > '9') || json.Unmarshal(raw, &n) != nil {
			return nil, wrongType
		}
		digits, ok, inRange := integerDigits(n.String(), t.Bits())
		switch {
		case !ok:
			return nil, wrongType
		case !inRange:
			return nil, apperr.Field(fp, "is out of range")
		}
		return json.RawMessage(digits), nil
	case reflect.Slice:
		var items []json.RawMessage
		if b != '[' || json.Unmarshal(raw, &items) != nil {
			return nil, wrongType
		}
		out := []byte{'['}
		for i, it := range items {
			ip := fp + "[" + strconv.Itoa(i) + "]"
			if firstByte(it) == 'n' {
				return nil, apperr.Field(ip, "must be %s", typeName(t.Elem()))
			}
			v, err := checkValue(ip, it, t.Elem())
			if err != nil {
				return nil, err
			}
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, v...)
		}
		return append(out, ']'), nil
	case reflect.Struct:
		if b != '{' {
			return nil, wrongType
		}
		return checkObject(fp, raw, t)
	default:
		return nil, apperr.New(apperr.Internal, "member %s has a type the decoder does not know", fp)
	}
	return raw, nil
}
