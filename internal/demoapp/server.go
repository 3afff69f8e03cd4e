// Package demoapp is a small real HTTP/1.1 JSON service and the traffic mix
// that exercises it: the application of the local demo and of the live
// tests. It covers what podtap must handle: keep-alive, chunked bodies in
// both directions, gzip, form posts, errors and health probes.
package demoapp

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Order is the service's resource.
type Order struct {
	ID       int     `json:"id"`
	Customer string  `json:"customer"`
	Email    string  `json:"email"`
	Items    []Item  `json:"items"`
	Total    float64 `json:"total"`
}

// Item is one order line.
type Item struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

// Server is the demo service.
type Server struct {
	mu     sync.Mutex
	orders map[int]Order
	next   int
	srv    *http.Server
}

// NewServer makes the service with a few orders.
func NewServer() *Server {
	s := &Server{orders: map[int]Order{}, next: 1}
	for _, c := range []string{"ada", "grace", "linus"} {
		s.add(Order{Customer: c, Email: c + "@example.com", Items: []Item{{SKU: "sku-" + c, Qty: 1, Price: 9.5}}, Total: 9.5})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders", s.list)
	mux.HandleFunc("POST /api/orders", s.create)
	mux.HandleFunc("GET /api/orders/{id}", s.get)
	mux.HandleFunc("GET /api/catalog", s.catalog)
	mux.HandleFunc("GET /api/stream", s.stream)
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Serve serves on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); err != http.ErrServerClosed {
		return fmt.Errorf("demoapp: %w", err)
	}
	return nil
}

// Close stops the service.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) add(o Order) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.ID = s.next
	s.next++
	s.orders[o.ID] = o
	return o
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := make([]Order, 0, len(s.orders))
	for id := 1; id < s.next; id++ {
		if o, ok := s.orders[id]; ok {
			out = append(out, o)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	o, ok := s.orders[id]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var o Order
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&o); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, s.add(o))
}

// catalog answers gzip-compressed when the client accepts it.
func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	items := make([]Item, 50)
	for i := range items {
		items[i] = Item{SKU: fmt.Sprintf("sku-%03d", i), Qty: i, Price: float64(i) * 1.25}
	}
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		writeJSON(w, http.StatusOK, items)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_ = json.NewEncoder(gz).Encode(items)
	_ = gz.Close()
}

// stream answers in chunks, flushing between them.
func (s *Server) stream(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	f, _ := w.(http.Flusher)
	_, _ = io.WriteString(w, `{"events":[`)
	for i := range 5 {
		if i > 0 {
			_, _ = io.WriteString(w, ",")
		}
		fmt.Fprintf(w, `{"seq":%d,"kind":"tick"}`, i)
		if f != nil {
			f.Flush()
		}
	}
	_, _ = io.WriteString(w, `]}`)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": r.PostForm.Get("user"), "token": "t-" + r.PostForm.Get("user")})
}
