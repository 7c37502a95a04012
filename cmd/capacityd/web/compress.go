package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
)

// gzipPool reuses gzip writers: each holds several hundred KB of state.
type gzipPool struct{ pool sync.Pool }

func newGzipPool() *gzipPool {
	return &gzipPool{pool: sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
		return zw
	}}}
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// compress gzips the pages for clients that accept it. Answers that are
// encoded already (the assets, compressed once at start) or whose type
// does not compress pass through.
func (h *Handler) compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptsGzip(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Accept-Encoding")
		gw := &gzipWriter{ResponseWriter: w, pool: h.gzip, head: r.Method == http.MethodHead}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

type gzipWriter struct {
	http.ResponseWriter
	pool        *gzipPool
	zw          *gzip.Writer
	wroteHeader bool
	head        bool
}

func (g *gzipWriter) WriteHeader(code int) {
	if g.wroteHeader {
		return
	}
	g.wroteHeader = true
	hdr := g.Header()
	if hdr.Get("Content-Encoding") == "" && compressible(hdr.Get("Content-Type")) &&
		code != http.StatusNoContent && code != http.StatusNotModified && !g.head {
		hdr.Set("Content-Encoding", "gzip")
		hdr.Del("Content-Length")
		g.zw = g.pool.pool.Get().(*gzip.Writer)
		g.zw.Reset(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.wroteHeader {
		if g.Header().Get("Content-Type") == "" {
			g.Header().Set("Content-Type", http.DetectContentType(b))
		}
		g.WriteHeader(http.StatusOK)
	}
	if g.zw != nil {
		return g.zw.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *gzipWriter) finish() {
	if g.zw == nil {
		return
	}
	// The status line is sent: a failed close is a broken connection.
	_ = g.zw.Close()
	g.zw.Reset(io.Discard)
	g.pool.pool.Put(g.zw)
	g.zw = nil
}
