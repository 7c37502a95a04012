package audit

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain/history"
)

// diffFromNothing is what the audit wrote before changesFromNothing: the
// data decoded, compared with history.Diff to an empty state, and every
// value encoded again with json.Marshal.
func diffFromNothing(t *testing.T, data []byte) ([]history.Change, []any) {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if _, ok := v.(map[string]any); !ok {
		v = map[string]any{"data": v}
	}
	changes, err := history.Diff(map[string]any{}, v)
	if err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	values := make([]any, len(changes))
	for i, c := range changes {
		if c.After == nil {
			continue
		}
		b, err := json.Marshal(c.After)
		if err != nil {
			t.Fatal(err)
		}
		values[i] = string(b)
	}
	return changes, values
}

// randomJSON is a random JSON value of the shapes events hold: nested
// objects and lists, empty ones, nulls, numbers, and strings with
// characters the encoder escapes.
func randomJSON(r *rand.Rand, depth int) any {
	n := r.IntN(9)
	if depth > 3 {
		n = r.IntN(6)
	}
	alphabet := []string{"a", "b", "Z", " ", ".", "[", "<", ">", "&", `"`, `\`, "\n", "\x7f", "é", "\u2028", "€", "1"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(6) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return sb.String()
	}
	switch n {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.NormFloat64() * 1e6
	case 3:
		return float64(r.IntN(1000))
	case 4, 5:
		return str()
	case 6:
		l := make([]any, r.IntN(4))
		for i := range l {
			l[i] = randomJSON(r, depth+1)
		}
		return l
	default:
		m := map[string]any{}
		for range r.IntN(5) {
			m[str()] = randomJSON(r, depth+1)
		}
		return m
	}
}

// changesFromNothingCases are event data that take scanLeaves' every
// branch, or send it to the slow way: valid JSON all of them.
var changesFromNothingCases = func() []string {
	cases := []string{
		// Roots of every kind.
		`{}`, `[]`, `null`, `"x"`, `""`, `"<&>"`, `"\u00e9"`, `12.5`, `-0`, `0`, `true`, `false`,
		`[null]`, `[1,[2,[]],{}]`, `[[]]`, `[{}]`, `{"data":1}`,
		// Paths: the empty key, and keys that look like paths.
		`{"a":{},"a.b":1,"c":[],"c[0]":"x"}`,
		`{"":1}`, `{"":{}}`, `{"":[]}`, `{"":null}`, `{"":[1,{}]}`, `{"":{"":{"a":1}}}`, `{"a":{"":1}}`, `{"a":{"":{}}}`,
		`{"a":null,"b":[null,{}],"c":{"d":[]}}`,
		// A path two ways, with one value (with two, which one the slow way
		// keeps is a map's order).
		`{"a":{"b":1},"a.b":1}`, `{"x":[true],"x[0]":true}`, `{"":{"a":null},"a":null}`,
		// Empty containers at every depth.
		`{"a":{"b":{"c":{}}},"d":[[[]]],"e":[{}],"f":{"g":[]},"h":[[{"i":[{}]}]]}`,
		// Whitespace everywhere.
		" \t\n\r{ \"a\" : [ 1 , { } , [ ] , \"s\" , true , false , null ] ,\n\"b\"\t:\r{ \"c\" : -1.5e3 } } \n",
		" [ ] ", "\t\"x\"\n", " 5 ", "\rnull\r", " {} ",
		// Strings the encoder escapes, escapes, UTF-8 and not.
		`{"s":"<b>&amp;</b>","u":"\u2028é\u007f","q":"say \"hi\"\\","n":1e21,"m":-0.000001,"i":12345678901234567890}`,
		`{"bad":"` + "\xff\xfe" + `"}`,
		`{"e":"\b\f\n\r\t\/\\\"","c":"\u0000\u001f\u007F\u00e9\u20AC\u2029","d":"` + "\x7f\u2028\u2029é€😀" + `"}`,
		`{"pair":"\ud83d\ude00","lone":"\ud800","low":"\udc00x","two":"\ud800\ud800","swap":"\ude00\ud83d","bad2":"\ud83d\u0041","end":"\ud83d"}`,
		`{"surrogate bytes":"` + "\xed\xa0\x80" + `","overlong":"` + "\xc0\xaf" + `","cut":"` + "\xe2\x82" + `","max":"` + "\xf4\x8f\xbf\xbf" + `","over":"` + "\xf4\x90\x80\x80" + `"}`,
		// Keys with escapes, UTF-8 and not.
		`{"a\"b":1,"c\\d":{"e\u00e9":2},"\ud83d\ude00":3,"\ud800":4,"tab\t":5,"sl\/":6,"<&>":7}`,
		`{"é":{"ü":"ö"},"` + "\xff" + `":1,"k` + "\xed\xa0\x80" + `":2,"\u00e9x":3}`,
		// Numbers.
		`{"a":-0,"b":1.0,"c":1E2,"d":0.000001,"e":1e-7,"f":12345678901234567890,"g":1e-400,"h":-0.0,"i":0e0,"j":1e21,"k":1e20}`,
		`[999999999999999,-999999999999999,1000000000000000,9007199254740993,123456789012345678901234567890,1.7976931348623157e308]`,
		`[0.1,1e-6,9.999999e-7,-1e-320,5e-324,2.5E+3,1e+2,-1E-2,100,0]`,
		// The same key twice (encoding/json keeps the last), nested too,
		// and keys the same once decoded.
		`{"a":1,"a":2}`, `{"a":{"x":1},"a":{"y":2}}`, `{"o":{"a":[1,2],"b":0,"a":null}}`,
		`{"a":1,"\u0061":2}`, `{"` + "\xff" + `":1,"` + "\xfe" + `":2}`, `{"a":{},"a":{}}`, `{"l":[{"k":1,"k":[]}]}`,
		`{"a":{"b":1},"c":{"b":2}}`, // not twice: two objects
	}
	// Objects of many keys (duplicates found through a map), with and
	// without one twice.
	var many, manyDup strings.Builder
	many.WriteString("{")
	for i := range 40 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"k%d":{"v":%d}`, i, i)
	}
	manyDup.WriteString(many.String() + `,"k17":{"w":1}}`)
	many.WriteString("}")
	cases = append(cases, many.String(), manyDup.String(), `{"o":`+manyDup.String()+`}`)
	// Deeper than scanLeaves goes.
	cases = append(cases, strings.Repeat(`{"a":[`, 600)+"1"+strings.Repeat(`]}`, 600))
	return cases
}()

// invalidJSONCases are not JSON: json.Unmarshal fails on each.
var invalidJSONCases = []string{
	``, ` `, `{"a":`, `{"a":1`, `{"a":1}}`, `{"a":1} x`, `{"a":1}` + "\x00", "\xef\xbb\xbf{}",
	`[1,]`, `{"a":1,}`, `{,}`, `[,1]`, `{"a" 1}`, `{a:1}`, `{'a':1}`, `{"a":1 "b":2}`, `[1 2]`, `{"a"}`, `{1:2}`,
	`tru`, `nul`, `truex`, `True`, `[true false]`, `nulll`, `NaN`, `Infinity`, `-Infinity`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `-01`, `0x10`, `1_000`, `[1.e5]`, `--1`,
	`"abc`, `"a\x"`, `"\u12"`, `"\u12G4"`, `"\'"`, "\"tab\there\"", "\"nl\n\"", `"\`, `"\"`,
	`{"k\q":1}`, `{"k` + "\x01" + `":1}`,
	// Numbers out of float64's range.
	`1e400`, `[1e400]`, `{"a":-1e400}`, `{"a":{"b":[1,2,1e309]}}`,
	// Deeper than encoding/json goes.
	strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001),
}

// TestAudit_ChangesFromNothingEqualDiff: the changes and values the audit
// writes for an event of a stream without a replay are exactly those of
// history.Diff from an empty state and json.Marshal, field for field, for
// fixed tricky cases and random data, and those of the slow way; data that
// is not JSON is an error.
func TestAudit_ChangesFromNothingEqualDiff(t *testing.T) {
	cases := slices.Clone(changesFromNothingCases)
	r := rand.New(rand.NewPCG(16, 2026))
	for range 2000 {
		data, err := json.Marshal(randomJSON(r, 0))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(data))
	}
	for _, c := range cases {
		wantChanges, wantValues := diffFromNothing(t, []byte(c))
		changes, values, err := changesFromNothing([]byte(c))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if len(wantChanges) == 0 && len(changes) == 0 {
			continue
		}
		if !reflect.DeepEqual(changes, wantChanges) {
			t.Fatalf("%s: changes\n%#v, want\n%#v", c, changes, wantChanges)
		}
		if !reflect.DeepEqual(values, wantValues) {
			t.Fatalf("%s: values\n%#v, want\n%#v", c, values, wantValues)
		}
		checkScanLeaves(t, []byte(c))
	}
	for _, c := range invalidJSONCases {
		if err := json.Unmarshal([]byte(c), new(any)); err == nil {
			t.Fatalf("%q: not a case of invalid JSON", c)
		}
		if _, _, err := changesFromNothing([]byte(c)); err == nil {
			t.Fatalf("%q: no error for data that is not JSON", c)
		}
		if _, _, ok := scanLeaves([]byte(c)); ok {
			t.Fatalf("%q: scanLeaves read data that is not JSON", c)
		}
	}
	// The cases that go the slow way do, and the others do not.
	for c, fast := range map[string]bool{
		`{"a":1,"a":2}`: false, `{"o":{"a":{},"a":{}}}`: false, `{"a":1,"\u0061":2}`: false,
		`{"a":{"b":1},"a.b":1}`: false, `[1e400]`: false, strings.Repeat("[", 1002) + strings.Repeat("]", 1002): false,
		`{"a":{"b":1},"c":{"b":2}}`: true, flatEventData: true, strings.Repeat("[", 1001) + strings.Repeat("]", 1001): true, // the innermost empty
		changesFromNothingCases[len(changesFromNothingCases)-4]: true,  // many keys
		changesFromNothingCases[len(changesFromNothingCases)-3]: false, // one twice
	} {
		if _, _, ok := scanLeaves([]byte(c)); ok != fast {
			t.Errorf("scanLeaves(%.80s) ok = %v, want %v", c, ok, fast)
		}
	}
}

// checkScanLeaves fails the test unless scanLeaves on data gives what
// changesFromNothingSlow gives, or leaves data to it.
func checkScanLeaves(t *testing.T, data []byte) {
	t.Helper()
	changes, values, ok := scanLeaves(data)
	if !ok {
		return // changesFromNothing is changesFromNothingSlow
	}
	wantChanges, wantValues, err := changesFromNothingSlow(data)
	if err != nil {
		t.Fatalf("%q: scanLeaves read it, the slow way: %v", data, err)
	}
	if !reflect.DeepEqual(changes, wantChanges) {
		t.Fatalf("%q: changes\n%#v, want\n%#v", data, changes, wantChanges)
	}
	if !reflect.DeepEqual(values, wantValues) {
		t.Fatalf("%q: values\n%#v, want\n%#v", data, values, wantValues)
	}
}

// FuzzAuditChangesFromNothing: scanLeaves gives exactly what the slow way
// gives, or leaves the data to it; it reads no data that is not JSON.
func FuzzAuditChangesFromNothing(f *testing.F) {
	for _, c := range changesFromNothingCases {
		f.Add([]byte(c))
	}
	for _, c := range invalidJSONCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(flatEventData))
	f.Fuzz(checkScanLeaves)
}

// TestAudit_LeafJSONEqualsMarshal: leafJSON is json.Marshal, for every
// single byte and rune class the encoder treats apart.
func TestAudit_LeafJSONEqualsMarshal(t *testing.T) {
	values := []any{true, false, 0.0, 1.5, -3e-9, 1e21, "", "plain text 123", map[string]any{}, []any{}}
	for b := range 256 {
		values = append(values, string([]byte{byte(b)}), fmt.Sprintf("x%cy", rune(b)))
	}
	values = append(values, "\u2028", "\u2029", "\xff", "€uro")
	// Numbers either side of the encoder's switches between formats.
	for _, f := range []float64{math.Copysign(0, -1), 1e-6, 9.999999e-7, 1e-7, 1e20, 1e21 - 65536, 1e21, 42, -42, 0.1, 1.0 / 3,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 12345678901234567890, 1 << 53, -123.456e10} {
		values = append(values, f, -f)
	}
	r := rand.New(rand.NewPCG(16, 2026))
	for range 2000 {
		values = append(values, r.NormFloat64()*math.Pow(10, float64(r.IntN(50)-25)), float64(r.Int64()))
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := leafJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Fatalf("leafJSON(%q) = %s, want %s", v, got, want)
		}
	}
}

// flatEventData is a realistic event's data: one flat object of numbers,
// short plain strings and a boolean, the most common shape in the log.
const flatEventData = `{"location_id":"1-000000001","people_using_service":42,"confirmed":1,"suspected":2,"staff_delivering_care":30,"staff_not_working":3,"ppe":"more_than_a_week","can_provide_extra_hours":true,"extra_hours_per_week":12,"other_issues":""}`

// BenchmarkAuditChangesFromNothing: the audit's changes of events of
// streams without a replay, as written first (history.Diff from an empty
// state, then json.Marshal of every value), then (changesFromNothingSlow:
// the data decoded into maps once) and now (changesFromNothing),
// over the same 1,000 random event data (impl=...), and over one flat
// event's data (data=flat/impl=...).
func BenchmarkAuditChangesFromNothing(b *testing.B) {
	r := rand.New(rand.NewPCG(16, 2026))
	var random [][]byte
	for range 1000 {
		d, err := json.Marshal(map[string]any{"id": "3f0c2b7e-5d1a-4c6e-9b2f-7a8d9e0f1a2b", "value": randomJSON(r, 1)})
		if err != nil {
			b.Fatal(err)
		}
		random = append(random, d)
	}
	impls := []struct {
		name string
		run  func([]byte) error
	}{
		{"diff", func(data []byte) error {
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				return err
			}
			changes, err := history.Diff(map[string]any{}, v)
			if err != nil {
				return err
			}
			for _, c := range changes {
				if _, err := json.Marshal(c.After); err != nil {
					return err
				}
			}
			return nil
		}},
		{"slow", func(data []byte) error {
			_, _, err := changesFromNothingSlow(data)
			return err
		}},
		{"walk", func(data []byte) error {
			_, _, err := changesFromNothing(data)
			return err
		}},
	}
	for _, set := range []struct {
		prefix string
		data   [][]byte
	}{{"", random}, {"data=flat/", [][]byte{[]byte(flatEventData)}}} {
		for _, impl := range impls {
			b.Run(set.prefix+"impl="+impl.name, func(b *testing.B) {
				for i := range b.N {
					if err := impl.run(set.data[i%len(set.data)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
