package message

import "testing"

func TestMediaType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"application/json", "application/json"},
		{"Application/JSON; charset=utf-8", "application/json"},
		{"  application/x-www-form-urlencoded ;charset=UTF-8", "application/x-www-form-urlencoded"},
		{"text/html;charset=ISO-8859-1", "text/html"},
		{"\tapplication/grpc+proto", "application/grpc+proto"},
		{"", ""},
		{";", ""},
		{"multipart/form-data; boundary=----x", "multipart/form-data"},
	}
	for _, tt := range tests {
		if got := MediaType(tt.in); got != tt.want {
			t.Errorf("MediaType(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMediaTypeNoAllocWhenClean(t *testing.T) {
	ct := "application/json"
	if n := testing.AllocsPerRun(100, func() { _ = MediaType(ct) }); n != 0 {
		t.Fatalf("MediaType of a clean value allocates %v times", n)
	}
}
