package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable podtap reads for its keys.
const EnvPrefix = "PODTAP_"

// DownwardEnv are the Kubernetes downward-API variables the webhook sets on
// the sidecar (and its own Deployment sets on the webhook), with the pod
// field each carries and the config key it fills.
var DownwardEnv = []struct{ Name, FieldPath, Key string }{
	{"POD_NAME", "metadata.name", "pod.name"},
	{"POD_NAMESPACE", "metadata.namespace", "pod.namespace"},
	{"POD_UID", "metadata.uid", "pod.uid"},
	{"NODE_NAME", "spec.nodeName", "pod.node"},
	{"POD_IP", "status.podIPs", "pod.ip"},
}

// extraEnv lists env names read besides PODTAP_<KEY>: the downward-API
// names, and for the webhook's own namespace the one its Deployment sets.
var extraEnv = func() map[string][]string {
	m := map[string][]string{}
	for _, d := range DownwardEnv {
		m[d.Key] = append(m[d.Key], d.Name)
		if d.Key == "pod.namespace" {
			m["namespace"] = append(m["namespace"], d.Name)
		}
	}
	return m
}()

// Source says where a configuration is read from. Precedence, lowest first:
// defaults, the file, env, flags.
type Source struct {
	// File is a YAML file; empty means none (PODTAP_CONFIG is consulted).
	File string
	// Flags holds parsed command-line flags; only flags the user set count.
	Flags *pflag.FlagSet
	// FlagKeys maps a flag name to the config key it sets.
	FlagKeys map[string]string
	// Env is the environment as KEY=VALUE; nil means os.Environ().
	Env []string
}

// EnvName is the environment variable of a config key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// LoadSidecar loads, normalises and validates the sidecar configuration.
func LoadSidecar(src Source) (Sidecar, error) {
	cfg := DefaultSidecar()
	if err := load(src, &cfg); err != nil {
		return cfg, err
	}
	cfg.Normalize()
	return cfg, cfg.Validate()
}

// Keys lists the dotted config keys of a configuration struct, sorted.
func Keys(cfg any) []string {
	var keys []string
	walk(reflect.TypeOf(cfg), "", func(key string) { keys = append(keys, key) })
	sort.Strings(keys)
	return keys
}

func walk(t reflect.Type, prefix string, visit func(string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			walk(f.Type, key+".", visit)
			continue
		}
		visit(key)
	}
}

// load fills cfg (a pointer to a struct holding its defaults) from src.
// Env and flags are applied with viper's Set, env first, so that a flag
// beats env, env beats the file, and the file beats the defaults.
func load(src Source, cfg any) error {
	keys := Keys(cfg)
	known := map[string]bool{}
	for _, key := range keys {
		known[key] = true
	}
	env := src.Env
	if env == nil {
		env = os.Environ()
	}
	envMap := map[string]string{}
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok {
			envMap[k] = val
		}
	}
	if err := unknownEnv(envMap, known); err != nil {
		return err
	}

	v := viper.New()
	file := src.File
	if file == "" {
		file = envMap[EnvPrefix+"CONFIG"]
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config: reading %s: %w", file, err)
		}
		var unknown []string
		for _, key := range v.AllKeys() {
			if !known[key] && !isParentKey(key, known) {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("config: %s: unknown key(s) %s; accepted keys are: %s",
				file, strings.Join(unknown, ", "), strings.Join(keys, ", "))
		}
	}

	for _, key := range keys {
		for _, name := range append([]string{EnvName(key)}, extraEnv[key]...) {
			if val, ok := envMap[name]; ok {
				v.Set(key, val)
				break
			}
		}
	}
	if src.Flags != nil {
		for name, key := range src.FlagKeys {
			f := src.Flags.Lookup(name)
			if f == nil {
				return fmt.Errorf("config: flag --%s bound to %s does not exist", name, key)
			}
			if f.Changed {
				v.Set(key, f.Value.String())
			}
		}
	}
	return decode(v, cfg)
}

func isParentKey(key string, known map[string]bool) bool {
	for k := range known {
		if strings.HasPrefix(k, key+".") {
			return true
		}
	}
	return false
}

// serviceLink matches the variables Kubernetes sets for every Service of a
// pod's namespace (enableServiceLinks): a Service named podtap or podtap-*
// yields PODTAP_SERVICE_HOST, PODTAP_WEBHOOK_PORT_443_TCP_ADDR and the
// like, which are no settings and must not stop the process.
var serviceLink = regexp.MustCompile(`^PODTAP(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?)?)$`)

// unknownEnv rejects PODTAP_ variables that look like a misspelt setting:
// those inside a section of the configuration (PODTAP_CAPTURE_INTERFAC).
// Others with the prefix belong to tools around podtap (PODTAP_CACHE of the
// build scripts) or to Kubernetes service links, and are left alone.
func unknownEnv(env map[string]string, known map[string]bool) error {
	knownEnv := map[string]bool{EnvPrefix + "CONFIG": true}
	var sections []string
	for key := range known {
		knownEnv[EnvName(key)] = true
		if section, _, nested := strings.Cut(key, "."); nested {
			sections = append(sections, EnvName(section)+"_")
		}
	}
	inSection := func(name string) bool {
		for _, s := range sections {
			if strings.HasPrefix(name, s) {
				return true
			}
		}
		return false
	}
	var unknown []string
	for name := range env {
		if !knownEnv[name] && inSection(name) && !serviceLink.MatchString(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("config: unknown environment variable(s) %s; accepted are %s plus %s<KEY> for the keys: %s",
		strings.Join(unknown, ", "), EnvPrefix+"CONFIG", EnvPrefix, strings.Join(sortedKeys(known), ", "))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func decode(v *viper.Viper, cfg any) error {
	// Settings explicitly set (file, env, flags) are decoded over the
	// defaults already in cfg, so a default list is replaced, not merged.
	settings := v.AllSettings()
	dc := &mapstructure.DecoderConfig{
		Result:           cfg,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		ZeroFields:       true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			byteSizeHook,
			mapstructure.StringToTimeDurationHookFunc(),
			stringToSliceHook,
		),
	}
	dec, err := mapstructure.NewDecoder(dc)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := dec.Decode(settings); err != nil {
		return fmt.Errorf("config: %w", describeDecodeError(err))
	}
	return nil
}

// describeDecodeError keeps mapstructure's messages (they name the key) but
// unwraps the joined form into one line per problem.
func describeDecodeError(err error) error {
	var merr interface{ Unwrap() []error }
	if errors.As(err, &merr) {
		var lines []string
		for _, e := range merr.Unwrap() {
			lines = append(lines, e.Error())
		}
		return errors.New(strings.Join(lines, "; "))
	}
	return err
}

var byteSizeType = reflect.TypeOf(ByteSize(0))

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return ParseByteSize(d)
	case int, int64, int32, uint, uint64, uint32:
		n := reflect.ValueOf(d).Convert(reflect.TypeOf(int64(0))).Int()
		if n < 0 {
			return nil, fmt.Errorf("%d is not a byte size (want a non-negative size)", n)
		}
		return ByteSize(n), nil
	case float64:
		if d < 0 || d != float64(int64(d)) {
			return nil, fmt.Errorf("%v is not a byte size (want a whole non-negative number)", d)
		}
		return ByteSize(int64(d)), nil
	}
	return data, nil
}

// stringToSliceHook splits comma-separated strings (env, flags, annotations)
// into lists, trimming blanks.
func stringToSliceHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if s == "" {
		return []string{}, nil
	}
	// pflag renders string slices as "[a,b]".
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}
