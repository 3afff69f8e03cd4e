package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes. In files, env and flags it is written as a
// plain integer or with a unit: Ki, Mi, Gi (powers of 1024) or k, M, G
// (powers of 1000), optionally followed by B ("512KiB", "1Mi", "2MB").
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
	{"k", 1000}, {"K", 1000}, {"M", 1000 * 1000}, {"G", 1000 * 1000 * 1000},
}

// ParseByteSize parses a size as described on ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte size (want e.g. 1048576, 512Ki, 1Mi, 2MB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n * mult), nil
}

// String renders the size with the largest exact binary unit.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%GiB == 0:
		return strconv.FormatInt(int64(b/GiB), 10) + "Gi"
	case b != 0 && b%MiB == 0:
		return strconv.FormatInt(int64(b/MiB), 10) + "Mi"
	case b != 0 && b%KiB == 0:
		return strconv.FormatInt(int64(b/KiB), 10) + "Ki"
	}
	return strconv.FormatInt(int64(b), 10)
}
