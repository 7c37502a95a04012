package audit

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
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

// TestAudit_ChangesFromNothingEqualDiff: the changes and values the audit
// writes for an event of a stream without a replay are exactly those of
// history.Diff from an empty state and json.Marshal, field for field, for
// fixed tricky cases and random data.
func TestAudit_ChangesFromNothingEqualDiff(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `null`, `"x"`, `12.5`, `true`,
		`{"a":{},"a.b":1,"c":[],"c[0]":"x"}`,
		`{"":1}`, `{"":{}}`, `{"a":null,"b":[null,{}],"c":{"d":[]}}`,
		`{"s":"<b>&amp;</b>","u":"\u2028é\u007f","q":"say \"hi\"\\","n":1e21,"m":-0.000001,"i":12345678901234567890}`,
		`{"bad":"` + "\xff\xfe" + `"}`,
		`{"dup":1,"dup":2}`,
	}
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
	}
	if _, _, err := changesFromNothing([]byte(`{"a":`)); err == nil {
		t.Fatal("no error for data that is not JSON")
	}
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

// BenchmarkAuditChangesFromNothing: the audit's changes of events of
// streams without a replay, as written before (history.Diff from an empty
// state, then json.Marshal of every value) and now (changesFromNothing),
// over the same 1,000 random event data.
func BenchmarkAuditChangesFromNothing(b *testing.B) {
	r := rand.New(rand.NewPCG(16, 2026))
	var data [][]byte
	for range 1000 {
		d, err := json.Marshal(map[string]any{"id": "3f0c2b7e-5d1a-4c6e-9b2f-7a8d9e0f1a2b", "value": randomJSON(r, 1)})
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, d)
	}
	b.Run("impl=diff", func(b *testing.B) {
		for i := range b.N {
			var v any
			if err := json.Unmarshal(data[i%len(data)], &v); err != nil {
				b.Fatal(err)
			}
			changes, err := history.Diff(map[string]any{}, v)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range changes {
				if _, err := json.Marshal(c.After); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("impl=walk", func(b *testing.B) {
		for i := range b.N {
			if _, _, err := changesFromNothing(data[i%len(data)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
