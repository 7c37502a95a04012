package web_test

// The browser side of the web tests: one headless chromium per test binary
// (started at the first browser test), a fresh browser context (cookies,
// storage) per test, steps that read like a person's journey, axe-core run
// on every page a journey visits (once per page: see pageKey), and on failure a screenshot and the
// page's HTML saved in the test's artifact directory (kept with
// `go test -artifacts`).

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/capacitytracker/capacity/eventstore/pgtest"
	"github.com/capacitytracker/capacity/projections/projtest"
)

var screenshotDir = flag.String("screenshots", "", "write PNGs of the main pages (desktop and phone width) to this folder (TestWeb_Screenshots)")

func TestMain(m *testing.M) {
	flag.Parse()
	// pgtest.Main starts a throwaway PostgreSQL when none is configured.
	code := pgtest.Main(m)
	browser.close()
	os.Exit(code)
}

// browser is the test binary's one chromium, shared by its tests.
var browser = &sharedBrowser{}

type sharedBrowser struct {
	once    sync.Once
	ctx     context.Context
	cancel  func()
	err     error
	axe     string
	userDir string
}

// chromiumPath finds the browser: CHROME_PATH, or Debian's chromium.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("the browser tests need chromium: install it with `apt-get install -y chromium` (Debian), or set CHROME_PATH")
}

func (b *sharedBrowser) start() {
	path, err := chromiumPath()
	if err != nil {
		b.err = err
		return
	}
	axe, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		b.err = fmt.Errorf("axe-core: %w (run cmd/capacityd/web/update-assets.sh)", err)
		return
	}
	b.axe = string(axe)
	b.userDir, err = os.MkdirTemp("", "capacity-web-chromium-")
	if err != nil {
		b.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(b.userDir),
		// Without these chromium keeps calling home, refused here.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
		// The tests' pages come from one local site and need no process
		// per site, no GPU fallback and none of the browser's own
		// services: 15% less CPU for the same journeys.
		chromedp.Flag("disable-features", "site-per-process,IsolateOrigins,PaintHolding,Translate,OptimizationHints,MediaRouter,BackForwardCache"),
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("renderer-process-limit", "4"),
		chromedp.Flag("disable-software-rasterizer", true),
		chromedp.Flag("disable-smooth-scrolling", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		b.err = fmt.Errorf("start chromium (%s): %w", path, err)
		return
	}
	b.ctx = ctx
	b.cancel = func() { cancelCtx(); cancelAlloc() }
}

func (b *sharedBrowser) close() {
	if b.cancel != nil {
		b.cancel()
	}
	if b.userDir != "" {
		_ = os.RemoveAll(b.userDir)
	}
}

// tab is a person at a browser: a fresh browser context on the site.
type tab struct {
	t    *testing.T
	s    *site
	ctx  context.Context
	js   bool
	step int
}

// eachBrowser runs a journey on a fresh site of each backend, with
// JavaScript on and off.
func eachBrowser(t *testing.T, fn func(t *testing.T, s *site, b *tab)) {
	t.Helper()
	t.Parallel()
	for _, backend := range projtest.Backends() {
		for _, js := range []bool{true, false} {
			name := backend + "/javascript"
			if !js {
				name = backend + "/no-javascript"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newSite(t, backend)
				fn(t, s, openTab(t, s, js))
			})
		}
	}
}

func openTab(t *testing.T, s *site, js bool) *tab {
	t.Helper()
	browser.once.Do(browser.start)
	if browser.err != nil {
		t.Fatal(browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, s: s, ctx: ctx, js: js}
	b.scripts(js)
	return b
}

// scripts switches the page's JavaScript on or off.
func (b *tab) scripts(on bool) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		b.t.Fatalf("switch JavaScript: %v", err)
	}
}

// do runs a step; on failure it saves what the person saw and says where.
func (b *tab) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	// A step that finds nothing fails within a bound, not at the journey's.
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", step, err, b.artifacts())
	}
}

// stepTimeout bounds one step of a journey: a liveness bound (an element
// that never appears), not a speed check.
const stepTimeout = time.Minute

// get runs a step that reads a value.
func get[T any](b *tab, step string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("%s: %v%s", step, err, b.artifacts())
	}
	return v
}

// artifacts saves a screenshot and the HTML of the page, and names them.
func (b *tab) artifacts() string {
	b.step++
	dir := b.t.ArtifactDir()
	png := filepath.Join(dir, fmt.Sprintf("failure-%d.png", b.step))
	html := filepath.Join(dir, fmt.Sprintf("failure-%d.html", b.step))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Sprintf("\n(could not save the page: %v)", err)
	}
	doc, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		return fmt.Sprintf("\n(could not save the page: %v)", err)
	}
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		return "\n" + err.Error()
	}
	if err := os.WriteFile(html, []byte(doc), 0o644); err != nil {
		return "\n" + err.Error()
	}
	return fmt.Sprintf("\nat %s; screenshot %s, HTML %s (go test -artifacts keeps them)", where, png, html)
}

func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf(format+"%s", append(args, b.artifacts())...)
}

// --- the person's actions ---------------------------------------------------

// xpathLiteral quotes a text for XPath.
func xpathLiteral(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "concat('" + strings.ReplaceAll(s, "'", `', "'", '`) + "')"
}

// fieldLabelled finds the input a <label> names.
func fieldLabelled(label string) string {
	return `//input[@id=//label[normalize-space(.)=` + xpathLiteral(label) + `]/@for]`
}

// open goes to a page of the site (or a full address) and checks it.
func (b *tab) open(address string) {
	b.t.Helper()
	if strings.HasPrefix(address, "/") {
		address = b.s.url + address
	}
	b.do("open "+address, chromedp.Navigate(address))
	b.checkPage()
}

// fill types into the field with the label.
func (b *tab) fill(label, value string) {
	b.t.Helper()
	sel := fieldLabelled(label)
	b.do(fmt.Sprintf("fill %q", label), chromedp.WaitVisible(sel), chromedp.Clear(sel), chromedp.SendKeys(sel, value))
}

// tick ticks the checkbox with the label (by its label, as a person does).
func (b *tab) tick(label string) {
	b.t.Helper()
	b.do(fmt.Sprintf("tick %q", label), chromedp.Click(`//label[normalize-space(.)=`+xpathLiteral(label)+`]`))
}

// press presses a button and waits for the page it leads to.
func (b *tab) press(button string) {
	b.t.Helper()
	sel := `//button[normalize-space(.)=` + xpathLiteral(button) + `]`
	b.navigateBy(fmt.Sprintf("press %q", button), chromedp.Click(sel))
}

// follow follows a link and waits for the page it leads to.
func (b *tab) follow(link string) {
	b.t.Helper()
	sel := `//a[normalize-space(.)=` + xpathLiteral(link) + `]`
	b.navigateBy(fmt.Sprintf("follow %q", link), chromedp.Click(sel))
}

func (b *tab) navigateBy(step string, action chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, action); err != nil {
		b.fail("%s: %v", step, err)
	}
	b.checkPage()
}

// sees wants the page's h1.
func (b *tab) sees(h1 string) {
	b.t.Helper()
	got := get(b, "read the heading", chromedp.Text(chromedp.CSS("h1")))
	if strings.TrimSpace(got) != h1 {
		b.fail("the page's heading is %q, want %q", got, h1)
	}
}

// reads wants a text somewhere on the page.
func (b *tab) reads(text string) {
	b.t.Helper()
	body := get(b, "read the page", chromedp.Text(chromedp.CSS("body")))
	if !strings.Contains(strings.Join(strings.Fields(body), " "), text) {
		b.fail("the page does not say %q", text)
	}
}

// title is the page's <title>.
func (b *tab) title() string {
	b.t.Helper()
	return get(b, "read the title", chromedp.Title())
}

// axeViolation is one failed rule of axe-core.
type axeViolation struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// checkPage runs axe-core on the page (WCAG 2.0, 2.1 and 2.2 A and AA) and
// fails on any violation. DevTools' evaluation is not the page's script:
// it runs under the CSP and with the page's JavaScript off, which is
// re-enabled for the check only.
func (b *tab) checkPage() {
	b.t.Helper()
	if !b.js {
		b.scripts(true)
		defer b.scripts(false)
	}
	// The design system's inline snippet marks the body when the page's
	// JavaScript ran: the journey runs the way it says it does.
	if ran := get(b, "read the body's classes", chromedp.Evaluate[bool](`document.body.classList.contains('js-enabled')`)); ran != b.js {
		b.fail("the page's JavaScript ran: %v, want %v", ran, b.js)
	}
	key := b.pageKey()
	if axePassed.has(key) {
		return
	}
	if out := b.axeViolations(); len(out) > 0 {
		j, _ := json.MarshalIndent(out, "", "  ")
		b.fail("axe-core found %d accessibility violation(s):\n%s", len(out), j)
	}
	axePassed.add(key)
}

// axePassed holds the pages axe-core passed in this test binary, by
// pageKey: a journey runs on both backends, whose pages are the same but
// for their ids, times and tokens, and the second is not checked again.
var axePassed = &pageSet{keys: map[[32]byte]bool{}}

type pageSet struct {
	mu   sync.Mutex
	keys map[[32]byte]bool
}

func (s *pageSet) has(k [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[k]
}

func (s *pageSet) add(k [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k] = true
}

// pageKey identifies what axe-core checks of the page: its DOM as it
// stands (after the page's own script, if it ran) and the size of the
// viewport, without what differs between two runs of one journey and
// cannot change a rule's outcome: the values of hidden inputs (tokens,
// versions), UUIDs and the digits of numbers, dates and times.
func (b *tab) pageKey() [32]byte {
	b.t.Helper()
	page := get(b, "read the page for axe-core", chromedp.Evaluate[string](`innerWidth + 'x' + innerHeight + '|' +
		document.documentElement.outerHTML
			.replace(/<input type="hidden"[^>]*>/g, '<input type="hidden">')
			.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, 'U')
			.replace(/[0-9]+/g, '0')`))
	return sha256.Sum256([]byte(page))
}

// axeViolations runs axe-core on the page.
func (b *tab) axeViolations() []axeViolation {
	b.t.Helper()
	run := `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
		.then(r => r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => ({target: n.target}))})))`
	get(b, "load axe-core", chromedp.Evaluate[int](browser.axe+";0"))
	return get(b, "check accessibility with axe-core", chromedp.Evaluate[[]axeViolation](run, chromedp.EvalAwaitPromise))
}

// key presses a key (kb constants) or types text on the keyboard.
func (b *tab) key(keys string) {
	b.t.Helper()
	b.do(fmt.Sprintf("press keys %q", keys), chromedp.KeyEvent(keys))
}

// focused describes the element that has the keyboard focus.
func (b *tab) focused() string {
	b.t.Helper()
	return get(b, "find the focus", chromedp.Evaluate[string](`(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '|' + (e.innerText || '').trim())(document.activeElement)`))
}

// tabTo presses Tab until the element described (as focused says) has the
// focus, at most 20 times.
func (b *tab) tabTo(want string) {
	b.t.Helper()
	for range 20 {
		b.key(kb.Tab)
		if strings.HasPrefix(b.focused(), want) {
			return
		}
	}
	b.fail("Tab never reached %s", want)
}

// chromedpKey is a key press as an action that navigates.
func chromedpKey(keys string) chromedp.Action[chromedp.Void] { return chromedp.KeyEvent(keys) }

// signInAs signs in through the sign-in page.
func (b *tab) signInAs(p person) {
	b.t.Helper()
	b.open("/sign-in")
	b.fill("Email address", p.Email)
	b.fill("Password", p.Password)
	b.press("Sign in")
	b.sees("Main Menu")
}
