package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed templates
var templateFiles embed.FS

// pages are the parsed templates: each view with the layout and partials.
type pages struct {
	views map[string]*template.Template
}

func loadPages(a *assets) (*pages, error) {
	funcs := template.FuncMap{
		"asset":   a.URL,
		"snippet": func() template.JS { return template.JS(jsEnabledSnippet) },
		"input":   inputFieldOf,
		"join":    strings.Join,
		"list":    func(s ...string) []string { return s },
		"dict":    dict,
		"has":     func(list []string, s string) bool { return slices.Contains(list, s) },
	}
	views, err := fs.Glob(templateFiles, "templates/views/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{views: map[string]*template.Template{}}
	for _, v := range views {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials/*.html", v)
		if err != nil {
			return nil, fmt.Errorf("web templates: %w", err)
		}
		name := strings.TrimSuffix(v[len("templates/views/"):], ".html")
		p.views[name] = t
	}
	return p, nil
}

// view is what every page's template gets.
type view struct {
	Title  string // the page's h1, also the start of <title>
	Assets *assets
	// Who is signed in, for the header's account section; nil when no one.
	User *viewUser
	// CSRF is the session's form token, for the hidden field of every
	// signed-in form (sign out included).
	CSRF string
	Form *form
	// Notice is a notification banner's message after a redirect.
	Notice string
	Data   any
}

type viewUser struct {
	Name  string
	Email string
}

// render writes a page. It renders into a buffer first, so that a template
// error becomes the 500 page, never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := h.pages.views[name]
	if !ok {
		h.logger.ErrorContext(r.Context(), "no such page template", "name", name)
		h.fallbackError(w, http.StatusInternalServerError)
		return
	}
	v.Assets = h.assets
	if v.Form == nil {
		v.Form = &form{}
	}
	buf := renderBuffers.Get().(*bytes.Buffer)
	defer putRenderBuffer(buf)
	if err := t.Execute(buf, v); err != nil {
		h.logger.ErrorContext(r.Context(), "render page", "name", name, "err", err)
		h.fallbackError(w, http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show personal data and carry form tokens: never cached.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// renderBuffers are render's page buffers, reused: a page of a list is
// about 100 KB, which a new buffer reaches by growing (and copying) eight
// times.
var renderBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putRenderBuffer gives a buffer back, emptied, unless it grew past 1 MB
// (an outsize page's buffer is left to the garbage collector).
func putRenderBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return
	}
	b.Reset()
	renderBuffers.Put(b)
}

// fallbackError is the answer when even a page cannot be rendered.
func (h *Handler) fallbackError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "Sorry, there is a problem with the service (%d). Please try again later.\n", status)
}

// redirect answers a form post (POST-redirect-GET) or a page that needs
// another first.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// dict is the templates' dict function: a map of its key and value
// pairs, to hand a partial more than one value.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: %d arguments, want pairs", len(kv))
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
