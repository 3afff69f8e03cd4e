package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow is the largest zstd window accepted. RFC 9659 caps the
// window of the "zstd" content coding at 8 MiB; a larger one is refused
// rather than letting a hostile frame header size an allocation.
const zstdMaxWindow = 8 << 20

// Decompressors are pooled: their state (Huffman tables, windows) is costly
// to allocate, and a busy sidecar decodes many small bodies per second.
var (
	gzipPool   sync.Pool // *gzip.Reader
	flatePool  sync.Pool // io.ReadCloser implementing flate.Resetter
	zlibPool   sync.Pool // io.ReadCloser implementing zlib.Resetter
	brotliPool sync.Pool // *brotli.Reader
	zstdPool   sync.Pool // *zstd.Decoder
)

func gunzip(in []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(in)
	z, _ := gzipPool.Get().(*gzip.Reader)
	if z == nil {
		z = new(gzip.Reader)
	}
	defer gzipPool.Put(z)
	var out []byte
	// Members are read one at a time so that trailing bytes that are not
	// another gzip member (padding some servers append) end the body
	// instead of failing it, as browsers treat them.
	for first := true; first || startsGzip(in[len(in)-src.Len():]); first = false {
		if err := z.Reset(src); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		z.Multistream(false)
		var err error
		if out, err = readLimited(out, z, limit, len(in)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func startsGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// inflate decodes "deflate", which servers send both as RFC 1950 zlib (as
// the specification says) and as raw RFC 1951 deflate (as IIS long did).
func inflate(in []byte, limit int) ([]byte, error) {
	if isZlib(in) {
		out, err := unzlib(in, limit)
		if err == nil || errors.Is(err, ErrTooLarge) {
			return out, err
		}
		// A raw stream can start with bytes that pass the zlib header
		// check; it then fails as zlib and is tried as raw.
	}
	src := bytes.NewReader(in)
	r, _ := flatePool.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer flatePool.Put(r)
	return readLimited(nil, r, limit, len(in))
}

// isZlib checks the RFC 1950 header: method 8 (deflate), a window of at
// most 32 KiB, and the check bits that make the first 16 bits a multiple
// of 31.
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

func unzlib(in []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(in)
	r, _ := zlibPool.Get().(io.ReadCloser)
	if r == nil {
		var err error
		if r, err = zlib.NewReader(src); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	} else if err := r.(zlib.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer zlibPool.Put(r)
	return readLimited(nil, r, limit, len(in))
}

func unbrotli(in []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(in)
	r, _ := brotliPool.Get().(*brotli.Reader)
	if r == nil {
		r = brotli.NewReader(src)
	} else if err := r.Reset(src); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer brotliPool.Put(r)
	return readLimited(nil, r, limit, len(in))
}

func unzstd(in []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(in)
	d, _ := zstdPool.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		// One goroutine-free decoder per use: concurrency 1 decodes
		// synchronously, so a pooled decoder that is never closed leaks
		// nothing.
		d, err = zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	} else if err := d.Reset(src); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer zstdPool.Put(d)
	return readLimited(nil, d, limit, len(in))
}

// readLimited appends r's output to out, failing with ErrTooLarge as soon
// as more than limit bytes would be held, so a decompression bomb costs at
// most limit bytes of memory.
func readLimited(out []byte, r io.Reader, limit, inLen int) ([]byte, error) {
	if out == nil {
		// Text bodies typically compress 3-10x; start near that and let
		// append grow the rest.
		out = make([]byte, 0, min(limit+1, max(512, 4*inLen)))
	}
	for stalls := 0; ; {
		if len(out) == cap(out) {
			if len(out) > limit {
				return nil, ErrTooLarge
			}
			out = append(out, 0)[:len(out)]
			out = out[:len(out):min(cap(out), limit+1)]
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if n == 0 && err == nil {
			if stalls++; stalls > 100 {
				return nil, fmt.Errorf("%w: %w", ErrCorrupt, io.ErrNoProgress)
			}
		} else {
			stalls = 0
		}
		if len(out) > limit {
			return nil, ErrTooLarge
		}
		switch {
		case err == io.EOF:
			return out, nil
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
}
