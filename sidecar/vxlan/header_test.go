package vxlan

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	frame := []byte{0xde, 0xad, 0xbe, 0xef}
	tests := []struct {
		name  string
		in    []byte
		vni   VNI
		inner []byte
		err   error
	}{
		{"empty", nil, 0, nil, ErrShort},
		{"seven bytes", []byte{8, 0, 0, 0, 0, 0, 1}, 0, nil, ErrShort},
		{"header only", []byte{8, 0, 0, 0, 0, 0, 1, 0}, 1, []byte{}, nil},
		{"vni 42 with frame", append([]byte{8, 0, 0, 0, 0, 0, 42, 0}, frame...), 42, frame, nil},
		{"max vni", []byte{8, 0, 0, 0, 0xff, 0xff, 0xff, 0}, MaxVNI, []byte{}, nil},
		{"vni bytes order", []byte{8, 0, 0, 0, 0x12, 0x34, 0x56, 0}, 0x123456, []byte{}, nil},
		{"I flag clear", []byte{0, 0, 0, 0, 0, 0, 1, 0}, 0, nil, ErrNoVNI},
		{"other flag", []byte{0x0c, 0, 0, 0, 0, 0, 1, 0}, 0, nil, ErrReserved},
		{"gpe next protocol", []byte{8, 0, 0, 3, 0, 0, 1, 0}, 0, nil, ErrReserved},
		{"gbp policy id", []byte{8, 0, 0x12, 0x34, 0, 0, 1, 0}, 0, nil, ErrReserved},
		{"last reserved byte", []byte{8, 0, 0, 0, 0, 0, 1, 1}, 0, nil, ErrReserved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vni, inner, err := Decode(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if vni != tt.vni {
				t.Errorf("vni = %d, want %d", vni, tt.vni)
			}
			if !bytes.Equal(inner, tt.inner) {
				t.Errorf("inner = %x, want %x", inner, tt.inner)
			}
		})
	}
}

func TestPut(t *testing.T) {
	tests := []struct {
		vni  VNI
		want []byte
		err  bool
	}{
		{0, []byte{8, 0, 0, 0, 0, 0, 0, 0}, false},
		{0x123456, []byte{8, 0, 0, 0, 0x12, 0x34, 0x56, 0}, false},
		{MaxVNI, []byte{8, 0, 0, 0, 0xff, 0xff, 0xff, 0}, false},
		{MaxVNI + 1, nil, true},
	}
	for _, tt := range tests {
		b := bytes.Repeat([]byte{0xaa}, HeaderLen)
		err := Put(b, tt.vni)
		if (err != nil) != tt.err {
			t.Fatalf("Put(%d) err = %v, want error %v", tt.vni, err, tt.err)
		}
		if err == nil && !bytes.Equal(b, tt.want) {
			t.Errorf("Put(%d) = %x, want %x", tt.vni, b, tt.want)
		}
	}
	if err := Put(make([]byte, 7), 1); !errors.Is(err, ErrShort) {
		t.Errorf("Put into 7 bytes: err = %v, want ErrShort", err)
	}
}

func TestAppendRoundTrip(t *testing.T) {
	frame := []byte("an ethernet frame")
	prefix := []byte("outer")
	b, err := Append(append([]byte(nil), prefix...), 7000, frame)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("Append lost the prefix: %q", b)
	}
	vni, inner, err := Decode(b[len(prefix):])
	if err != nil || vni != 7000 || !bytes.Equal(inner, frame) {
		t.Errorf("Decode(Append) = %d %q %v", vni, inner, err)
	}
	if _, err := Append(nil, MaxVNI+1, frame); err == nil {
		t.Error("Append accepted a 25-bit VNI")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{8, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3})
	f.Add([]byte{8, 0, 0, 0})
	f.Add([]byte{0x0c, 0, 0, 3, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		vni, inner, err := Decode(b)
		if err != nil {
			return
		}
		if !vni.Valid() {
			t.Fatalf("decoded VNI %d out of range", vni)
		}
		if len(inner) != len(b)-HeaderLen {
			t.Fatalf("inner length %d, want %d", len(inner), len(b)-HeaderLen)
		}
		re, err := Append(nil, vni, inner)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x, want %x", re, b)
		}
	})
}
