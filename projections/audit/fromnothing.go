package audit

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/capacitytracker/capacity/domain/history"
)

// The changes of an event of a stream without a replay: its data's fields
// from nothing (changesFromNothing), and the JSON text of their values.

// jsonValue is a change's value as JSON text, or NULL for none.
func jsonValue(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	data, err := leafJSON(v)
	if err != nil {
		return nil, err
	}
	return data, nil
}

// leafJSON is json.Marshal(v) as a string, without the encoder for the
// common plain strings, booleans and numbers (most of a change's values).
func leafJSON(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		if plainJSONString(x) {
			return `"` + x + `"`, nil
		}
	case float64:
		// encoding/json writes a float64 with strconv's 'f' format unless
		// it is 0 < |x| < 1e-6 or |x| >= 1e21 ('e', with its own clean-up),
		// and fails on NaN and infinities: those go to the encoder.
		if a := math.Abs(x); x == 0 || a >= 1e-6 && a < 1e21 {
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	}
	data, err := json.Marshal(v)
	return string(data), err
}

// plainJSONString reports whether json.Marshal writes s between quotes as
// it is: printable ASCII, none of the characters it escapes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// changesFromNothing is the changes of an event of a stream without a
// replay: its data's fields from nothing, exactly as
// history.Diff(map[string]any{}, data) lists them (data other than an
// object as the field "data"), with each change's after_value (its JSON
// text, or NULL). It reads the data once with scanLeaves, without decoding
// it into maps; data scanLeaves leaves to it (not JSON, a key twice in an
// object, a path two ways, a number out of range, deep nesting) goes to
// changesFromNothingSlow, which gives its error or its changes.
func changesFromNothing(data []byte) ([]history.Change, []any, error) {
	if changes, values, ok := scanLeaves(data); ok {
		return changes, values, nil
	}
	return changesFromNothingSlow(data)
}

// changesFromNothingSlow is changesFromNothing by decoding the data into
// maps and walking them: the reference scanLeaves must equal, and the way
// for the data it does not take.
func changesFromNothingSlow(data []byte) ([]history.Change, []any, error) {
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	if _, ok := root.(map[string]any); !ok {
		root = map[string]any{"data": root}
	}
	type leaf struct {
		value any
		json  any // after_value
	}
	leaves := map[string]leaf{}
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 && path != "" {
				leaves[path] = leaf{value: x, json: "{}"}
			}
			for k, c := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if err := walk(p, c); err != nil {
					return err
				}
			}
		case []any:
			if len(x) == 0 {
				leaves[path] = leaf{value: x, json: "[]"}
			}
			for i, c := range x {
				if err := walk(path+"["+strconv.Itoa(i)+"]", c); err != nil {
					return err
				}
			}
		case nil:
			leaves[path] = leaf{}
		default:
			j, err := leafJSON(x)
			if err != nil {
				return err
			}
			leaves[path] = leaf{value: x, json: j}
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return nil, nil, err
	}
	keys := slices.Sorted(maps.Keys(leaves))
	changes := make([]history.Change, 0, len(keys))
	values := make([]any, 0, len(keys))
	for _, k := range keys {
		// (Diff leaves out an empty list or object only where it replaces
		// entries of the state before, and there is none here.)
		l := leaves[k]
		changes = append(changes, history.Change{Field: k, After: l.value})
		values = append(values, l.json)
	}
	return changes, values, nil
}

// scanLeaves is changesFromNothing (same changes, values and After) for
// JSON that has no key twice in an object, no path reached two ways (as
// {"a":{"b":1},"a.b":2}) and numbers in float64's range, from one pass
// over the bytes: plain strings and short integers are their own JSON
// text, the rest goes through leafJSON as before. ok is false, with
// nothing else, for any other data, valid or not.
func scanLeaves(data []byte) (changes []history.Change, values []any, ok bool) {
	p := leafScanPool.Get().(*leafScan)
	defer p.release()
	p.data = data
	p.ws()
	if p.i < len(data) && data[p.i] != '{' {
		p.path = append(p.path, "data"...)
	}
	if !p.value() {
		return nil, nil, false
	}
	if p.ws(); p.i != len(data) || len(p.buf) > math.MaxInt32 {
		return nil, nil, false
	}
	s := string(p.buf)
	order := p.order
	for i, l := range p.leaves {
		path := s[l.path0:l.path1]
		order = append(order, leafOrder{pathPrefix(path), path, i})
	}
	p.order = order
	if len(order) <= 16 {
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && order[j].compare(order[j-1]) < 0; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
	} else {
		slices.SortFunc(order, leafOrder.compare)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1].path == order[i].path {
			return nil, nil, false // a path two ways: which one wins is the map's order
		}
	}
	changes = make([]history.Change, len(order))
	values = make([]any, len(order))
	for i, o := range order {
		c, l := &changes[i], &p.leaves[o.leaf]
		c.Field = o.path
		switch l.kind {
		case leafNull:
		case leafTrue:
			c.After, values[i] = true, "true"
		case leafFalse:
			c.After, values[i] = false, "false"
		case leafNumber:
			c.After, values[i] = l.f, s[l.text0:l.text1]
		case leafString:
			c.After, values[i] = s[l.str0:l.str1], s[l.text0:l.text1]
		case leafEmptyObject:
			c.After, values[i] = map[string]any{}, "{}"
		case leafEmptyList:
			c.After, values[i] = []any{}, "[]"
		}
	}
	return changes, values, true
}

// leafScan is scanLeaves' state, reused through leafScanPool.
type leafScan struct {
	data   []byte
	i      int           // the next byte of data
	depth  int           // of objects and lists
	path   []byte        // the path of the value at i
	keys   [][]byte      // the keys of the objects being read, innermost last
	keyBuf []byte        // the keys that needed unquoting
	buf    []byte        // the leaves' paths and texts, one string at the end
	leaves []scannedLeaf // in the data's order
	order  []leafOrder   // the leaves by path
}

// leafOrder is a leaf's path and index, for sorting.
type leafOrder struct {
	prefix uint64 // pathPrefix(path)
	path   string
	leaf   int
}

// compare orders by path, in byte order.
func (a leafOrder) compare(b leafOrder) int {
	if a.prefix != b.prefix {
		return cmp.Compare(a.prefix, b.prefix)
	}
	return strings.Compare(a.path, b.path)
}

// pathPrefix is the first 8 bytes of path, big-endian, padded with zeros:
// of two paths, the one first in byte order has no larger prefix.
func pathPrefix(path string) uint64 {
	var b [8]byte
	copy(b[:], path)
	return binary.BigEndian.Uint64(b[:])
}

// scannedLeaf is a leaf of the data: its path and its texts as offsets in
// leafScan.buf.
type scannedLeaf struct {
	kind         leafKind
	path0, path1 int32
	text0, text1 int32   // after_value: a number's or string's JSON text
	str0, str1   int32   // a string's value
	f            float64 // a number's value
}

type leafKind uint8

const (
	leafNull leafKind = iota
	leafTrue
	leafFalse
	leafNumber
	leafString
	leafEmptyObject
	leafEmptyList
)

// maxLeafScanDepth is the nesting scanLeaves reads; deeper data goes to
// the slow way (encoding/json's own limit is 10,000).
const maxLeafScanDepth = 1000

var leafScanPool = sync.Pool{New: func() any { return new(leafScan) }}

func (p *leafScan) release() {
	if cap(p.buf) > 1<<16 || cap(p.keyBuf) > 1<<16 || cap(p.leaves) > 1<<12 || cap(p.keys) > 1<<12 || cap(p.order) > 1<<12 {
		return // no large buffers kept for the next small event
	}
	clear(p.keys[:cap(p.keys)]) // no data kept alive either
	clear(p.order)
	*p = leafScan{path: p.path[:0], keys: p.keys[:0], keyBuf: p.keyBuf[:0], buf: p.buf[:0], leaves: p.leaves[:0], order: p.order[:0]}
	leafScanPool.Put(p)
}

// ws skips JSON whitespace.
func (p *leafScan) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// leaf adds a leaf at the current path.
func (p *leafScan) leaf(l scannedLeaf) {
	l.path0 = int32(len(p.buf))
	p.buf = append(p.buf, p.path...)
	l.path1 = int32(len(p.buf))
	p.leaves = append(p.leaves, l)
}

// value reads the value at i (after whitespace), whose path is p.path.
func (p *leafScan) value() bool {
	if p.i >= len(p.data) {
		return false
	}
	switch c := p.data[p.i]; c {
	case '{':
		return p.object()
	case '[':
		return p.list()
	case '"':
		return p.stringLeaf()
	case 't':
		return p.literal("true", leafTrue)
	case 'f':
		return p.literal("false", leafFalse)
	case 'n':
		return p.literal("null", leafNull)
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return p.number()
		}
		return false
	}
}

func (p *leafScan) literal(word string, kind leafKind) bool {
	if string(p.data[p.i:min(p.i+len(word), len(p.data))]) != word {
		return false
	}
	p.i += len(word)
	p.leaf(scannedLeaf{kind: kind})
	return true
}

func (p *leafScan) object() bool {
	p.i++ // {
	if p.ws(); p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		if len(p.path) > 0 { // (the walk's root, or a key "" below it, has none)
			p.leaf(scannedLeaf{kind: leafEmptyObject})
		}
		return true
	}
	if p.depth++; p.depth > maxLeafScanDepth {
		return false
	}
	path0, keys0 := len(p.path), len(p.keys)
	var seen map[string]bool // the keys, for an object of many
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return false
		}
		key, ok := p.key()
		if !ok {
			return false
		}
		// encoding/json keeps the last value of a key, in place of all of
		// the first one's subtree: that is for the slow way.
		if keys := p.keys[keys0:]; len(keys) < 16 {
			for _, k := range keys {
				if string(k) == string(key) {
					return false
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]bool, 2*len(keys))
				for _, k := range keys {
					seen[string(k)] = true
				}
			}
			if seen[string(key)] {
				return false
			}
			seen[string(key)] = true
		}
		p.keys = append(p.keys, key)
		if p.ws(); p.i >= len(p.data) || p.data[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		if path0 > 0 {
			p.path = append(p.path, '.')
		}
		p.path = append(p.path, key...)
		if !p.value() {
			return false
		}
		p.path = p.path[:path0]
		end, ok := p.separator('}')
		if !ok {
			return false
		}
		if end {
			clear(p.keys[keys0:])
			p.keys = p.keys[:keys0]
			p.depth--
			return true
		}
	}
}

func (p *leafScan) list() bool {
	p.i++ // [
	if p.ws(); p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		p.leaf(scannedLeaf{kind: leafEmptyList})
		return true
	}
	if p.depth++; p.depth > maxLeafScanDepth {
		return false
	}
	path0 := len(p.path)
	for n := 0; ; n++ {
		p.path = append(p.path, '[')
		p.path = strconv.AppendInt(p.path, int64(n), 10)
		p.path = append(p.path, ']')
		if !p.value() {
			return false
		}
		p.path = p.path[:path0]
		end, ok := p.separator(']')
		if !ok {
			return false
		}
		if end {
			p.depth--
			return true
		}
	}
}

// separator reads what follows a member of an object or an element of a
// list: a comma, more to come, or closing, the end (end). ok is false for
// anything else.
func (p *leafScan) separator(closing byte) (end, ok bool) {
	if p.ws(); p.i >= len(p.data) {
		return false, false
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		p.ws()
		return false, true
	case closing:
		p.i++
		return true, true
	}
	return false, false
}

// Classes of a byte in a JSON string, for scanString.
const (
	strPlain   = iota // written as it is by json.Marshal
	strQuote          // the end
	strEscape         // a backslash
	strControl        // not allowed in JSON
	strASCII          // other ASCII not plainJSONString: <, >, & and DEL
	strHigh           // part of a UTF-8 sequence, or not UTF-8
)

var strClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < 0x20:
			t[c] = strControl
		case c == '"':
			t[c] = strQuote
		case c == '\\':
			t[c] = strEscape
		case c == '<', c == '>', c == '&', c == 0x7f:
			t[c] = strASCII
		case c >= 0x80:
			t[c] = strHigh
		}
	}
	return t
}()

// scanString reads the string at i, the quote: raw is what is between the
// quotes, plain if it is its own value and json.Marshal writes it as it
// is, and verbatim if it is its own value (no escapes, valid UTF-8) but
// may need escaping in JSON. Otherwise the string needs unquoting
// (appendUnquoted, which checks its escapes).
func (p *leafScan) scanString() (raw []byte, plain, verbatim, ok bool) {
	start := p.i + 1
	plain, escaped, high := true, false, false
	for i := start; i < len(p.data); i++ {
		switch strClass[p.data[i]] {
		case strPlain:
		case strQuote:
			p.i = i + 1
			raw = p.data[start:i]
			return raw, plain, !escaped && (!high || utf8.Valid(raw)), true
		case strEscape:
			plain, escaped = false, true
			i++ // the escaped byte, so that \" is not the end
		case strControl:
			return nil, false, false, false
		case strASCII:
			plain = false
		case strHigh:
			plain, high = false, true
		}
	}
	return nil, false, false, false
}

// appendUnquoted appends the value of the JSON string quoted (quotes
// included, from scanString) as encoding/json decodes it: its escapes, a
// UTF-16 surrogate pair as one rune, U+FFFD for a lone surrogate and for
// bytes that are not UTF-8. ok is false where it fails.
func appendUnquoted(dst, quoted []byte) (_ []byte, ok bool) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return dst, false
	}
	return append(dst, s...), true
}

// key reads the object key at i: its value, in data or in keyBuf.
func (p *leafScan) key() ([]byte, bool) {
	start := p.i
	raw, _, verbatim, ok := p.scanString()
	if !ok || verbatim {
		return raw, ok
	}
	k0 := len(p.keyBuf)
	p.keyBuf, ok = appendUnquoted(p.keyBuf, p.data[start:p.i])
	return p.keyBuf[k0:len(p.keyBuf):len(p.keyBuf)], ok
}

func (p *leafScan) stringLeaf() bool {
	start := p.i
	raw, plain, verbatim, ok := p.scanString()
	if !ok {
		return false
	}
	l := scannedLeaf{kind: leafString}
	if plain {
		l.text0 = int32(len(p.buf))
		p.buf = append(p.buf, p.data[start:p.i]...)
		l.text1 = int32(len(p.buf))
		l.str0, l.str1 = l.text0+1, l.text1-1
		p.leaf(l)
		return true
	}
	l.str0 = int32(len(p.buf))
	if verbatim {
		p.buf = append(p.buf, raw...)
	} else if p.buf, ok = appendUnquoted(p.buf, p.data[start:p.i]); !ok {
		return false
	}
	l.str1 = int32(len(p.buf))
	text, err := leafJSON(string(p.buf[l.str0:l.str1]))
	if err != nil {
		return false
	}
	l.text0 = int32(len(p.buf))
	p.buf = append(p.buf, text...)
	l.text1 = int32(len(p.buf))
	p.leaf(l)
	return true
}

// number reads the number at i: JSON's grammar, then strconv.ParseFloat
// as encoding/json decodes it into any (out of range is an error there).
func (p *leafScan) number() bool {
	d := p.data
	start, i := p.i, p.i
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for ; i < len(d) && '0' <= d[i] && d[i] <= '9'; i++ {
			n++
		}
		return n
	}
	var intDigits int
	switch {
	case i < len(d) && d[i] == '0':
		i++
		intDigits = 1
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		intDigits = digits()
	default:
		return false
	}
	integer := true
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
		integer = false
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
		integer = false
	}
	p.i = i
	lit := d[start:i]
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return false
	}
	l := scannedLeaf{kind: leafNumber, f: f, text0: int32(len(p.buf))}
	switch a := math.Abs(f); {
	case integer && intDigits <= 15:
		// An integer below 10^15 is exact in a float64 and its shortest
		// form is its digits: json.Marshal writes it as it is (-0 too).
		p.buf = append(p.buf, lit...)
	case f == 0 || a >= 1e-6 && a < 1e21: // as leafJSON
		p.buf = strconv.AppendFloat(p.buf, f, 'f', -1, 64)
	default:
		text, err := leafJSON(f)
		if err != nil {
			return false
		}
		p.buf = append(p.buf, text...)
	}
	l.text1 = int32(len(p.buf))
	p.leaf(l)
	return true
}
