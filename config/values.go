package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Value renders the value of a key of cfg (a configuration struct) as the
// loader reads it back from env, so that the webhook can hand settings to
// the sidecar as PODTAP_* variables without a second encoding.
func Value(cfg any, key string) (string, error) {
	f, err := field(reflect.ValueOf(cfg), key)
	if err != nil {
		return "", err
	}
	s, err := format(f)
	if err != nil {
		return "", fmt.Errorf("config: %s: %w", key, err)
	}
	return s, nil
}

// Changed lists, sorted, the keys whose values differ between a and b, two
// configurations of the same type.
func Changed(a, b any) []string {
	var out []string
	for _, key := range Keys(a) {
		fa, errA := field(reflect.ValueOf(a), key)
		fb, errB := field(reflect.ValueOf(b), key)
		if errA != nil || errB != nil || !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			out = append(out, key)
		}
	}
	return out
}

func field(v reflect.Value, key string) (reflect.Value, error) {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	name, rest, nested := strings.Cut(key, ".")
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("config: no key %q", key)
	}
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("mapstructure") != name {
			continue
		}
		if nested {
			return field(v.Field(i), rest)
		}
		return v.Field(i), nil
	}
	return reflect.Value{}, fmt.Errorf("config: no key %q", key)
}

var durationType = reflect.TypeOf(time.Duration(0))

func format(v reflect.Value) (string, error) {
	switch {
	case v.Type() == byteSizeType:
		return ByteSize(v.Int()).String(), nil
	case v.Type() == durationType:
		return time.Duration(v.Int()).String(), nil
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64), nil
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			s, err := format(v.Index(i))
			if err != nil {
				return "", err
			}
			// The loader splits lists on commas and trims blanks, so such
			// an element could not come back as it went.
			if strings.Contains(s, ",") || s != strings.TrimSpace(s) || s == "" {
				return "", fmt.Errorf("list element %q cannot be written as a comma-separated list", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("values of type %s cannot be written as env", v.Type())
}
