package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
)

// static holds the design system's files, unmodified (update-assets.sh
// copies them from the pinned npm release), and the page's own script.
//
//go:embed static/nhsuk static/app static/LICENSE-nhsuk-frontend
var static embed.FS

// assetCacheControl is for content-hashed URLs: their content never changes.
const assetCacheControl = "public, max-age=31536000, immutable"

// asset is one file, held in memory with its compressed form.
type asset struct {
	body        []byte
	gzipped     []byte // nil when compression does not pay (images)
	contentType string
}

// assets are the files served under /assets/<hash>/, where hash is the
// digest of them all: any change gives new URLs, so browsers may keep each
// one forever, and a later visit loads nothing but the HTML.
type assets struct {
	hash  string
	files map[string]asset // by path under /assets/<hash>/
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	add := func(root, prefix string) error {
		sub, err := fs.Sub(static, root)
		if err != nil {
			return err
		}
		return fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			// The package's README and package.json are kept for
			// provenance, not served.
			if root == "static/nhsuk" && (p == "README.md" || p == "package.json") {
				return nil
			}
			body, err := fs.ReadFile(sub, p)
			if err != nil {
				return err
			}
			f := asset{body: body, contentType: contentType(p)}
			if compressible(f.contentType) {
				var buf bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
				if _, err := zw.Write(body); err != nil {
					return err
				}
				if err := zw.Close(); err != nil {
					return err
				}
				f.gzipped = buf.Bytes()
			}
			a.files[prefix+p] = f
			return nil
		})
	}
	if err := add("static/nhsuk", ""); err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	if err := add("static/app", ""); err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	lic, err := static.ReadFile("static/LICENSE-nhsuk-frontend")
	if err != nil {
		return nil, fmt.Errorf("web assets: %w", err)
	}
	a.files["LICENSE-nhsuk-frontend.txt"] = asset{body: lic, contentType: "text/plain; charset=utf-8"}

	names := make([]string, 0, len(a.files))
	for n := range a.files {
		names = append(names, n)
	}
	sort.Strings(names)
	d := sha256.New()
	for _, n := range names {
		fmt.Fprintf(d, "%s\x00%d\x00", n, len(a.files[n].body))
		d.Write(a.files[n].body)
	}
	a.hash = hex.EncodeToString(d.Sum(nil))[:16]
	return a, nil
}

// URL is the content-hashed address of an asset.
func (a *assets) URL(p string) string { return "/assets/" + a.hash + "/" + p }

// Prefix is the URL of the folder that holds the assets.
func (a *assets) Prefix() string { return "/assets/" + a.hash }

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json":
		return "application/manifest+json"
	case ".svg":
		return "image/svg+xml"
	case ".ico":
		return "image/x-icon"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible: text compresses well; PNG, ICO and fonts are compressed
// already or gain too little.
func compressible(contentType string) bool {
	return strings.HasPrefix(contentType, "text/") || strings.Contains(contentType, "json") ||
		strings.HasPrefix(contentType, "image/svg")
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("hash") != h.assets.hash {
		// An address of another build: HTML is never cached, so only a
		// stale or made-up link asks for it.
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	h.writeAsset(w, r, r.PathValue("path"), assetCacheControl)
}

// serveCSSImage serves the icons the compiled CSS names at
// /assets/images/<name>; their URLs carry no hash, so they are cached for
// a day only.
func (h *Handler) serveCSSImage(w http.ResponseWriter, r *http.Request) {
	h.writeAsset(w, r, "assets/images/"+r.PathValue("name"), "public, max-age=86400")
}

func (h *Handler) serveFavicon(w http.ResponseWriter, r *http.Request) {
	h.writeAsset(w, r, "assets/images/favicon.ico", "public, max-age=86400")
}

func (h *Handler) writeAsset(w http.ResponseWriter, r *http.Request, p, cacheControl string) {
	f, ok := h.assets.files[p]
	if !ok {
		h.errorPage(w, r, http.StatusNotFound)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("Vary", "Accept-Encoding")
	body := f.body
	if f.gzipped != nil && acceptsGzip(r) {
		hdr.Set("Content-Encoding", "gzip")
		body = f.gzipped
	}
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
