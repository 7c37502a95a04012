package domain_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/capacitytracker/capacity/domain"
	"github.com/capacitytracker/capacity/domain/account"
	"github.com/capacitytracker/capacity/domain/dailyupdate"
	"github.com/capacitytracker/capacity/domain/erasure"
	"github.com/capacitytracker/capacity/domain/location"
	"github.com/capacitytracker/capacity/domain/survey"
)

type noted struct {
	Text  string `json:"text"`
	Count int    `json:"count,omitempty"`
}

func (noted) EventType() string { return "Noted" }

type cleared struct{}

func (cleared) EventType() string { return "Cleared" }

// TestRegistry_DecodesByOneRule pins the rules every aggregate's Decode
// follows, on a registry of two made-up events.
func TestRegistry_DecodesByOneRule(t *testing.T) {
	r := domain.NewRegistry(
		domain.EventOf(func(e noted) noted { e.Text = strings.TrimSpace(e.Text); return e }),
		domain.EventOf[cleared](),
	)
	for _, tc := range []struct {
		name, typ, data string
		want            domain.Event
		wantErr         bool
	}{
		{name: "known type", typ: "Noted", data: `{"text":" hello ","count":2}`, want: noted{Text: "hello", Count: 2}},
		{name: "unknown fields ignored", typ: "Noted", data: `{"text":"a","later":true}`, want: noted{Text: "a"}},
		{name: "event without fields", typ: "Cleared", data: `{}`, want: cleared{}},
		{name: "unknown type", typ: "Unheard", data: `{"text":"a"}`, want: nil},
		{name: "unknown type, bad JSON", typ: "Unheard", data: `{`, want: nil},
		{name: "JSON null", typ: "Noted", data: `null`, want: noted{}},
		{name: "JSON null with spaces", typ: "Noted", data: " null\n", want: noted{}},
		{name: "empty data", typ: "Noted", data: ``, want: noted{}},
		{name: "only white space", typ: "Noted", data: " \n\t", want: noted{}},
		{name: "trailing garbage", typ: "Noted", data: `{"text":"a"} x`, wantErr: true},
		{name: "two values", typ: "Noted", data: `{"text":"a"}{"text":"b"}`, wantErr: true},
		{name: "syntax error", typ: "Noted", data: `{"text":`, wantErr: true},
		{name: "wrong shape", typ: "Noted", data: `["a"]`, wantErr: true},
		{name: "wrong field type", typ: "Noted", data: `{"count":"two"}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Decode(tc.typ, []byte(tc.data))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "decode "+tc.typ) {
					t.Fatalf("Decode(%s, %q) = %#v, %v; want an error naming the type", tc.typ, tc.data, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Decode(%s, %q) = %#v, %v; want %#v", tc.typ, tc.data, got, err, tc.want)
			}
		})
	}
	if got := r.Types(); !reflect.DeepEqual(got, []string{"Cleared", "Noted"}) {
		t.Errorf("Types() = %v", got)
	}
}

func TestRegistry_UpcastsBeforeDecoding(t *testing.T) {
	r := domain.NewRegistry(domain.EventOf[noted]()).Upcasting(func(typ string, data []byte) (string, []byte, error) {
		if typ == "NotedV0" {
			return "Noted", []byte(`{"text":"` + string(data) + `"}`), nil
		}
		return typ, data, nil
	})
	got, err := r.Decode("NotedV0", []byte("old"))
	if err != nil || got != (noted{Text: "old"}) {
		t.Fatalf("Decode(NotedV0) = %#v, %v", got, err)
	}
}

func TestNewRegistry_PanicsOnATypeRegisteredTwice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	domain.NewRegistry(domain.EventOf[noted](), domain.EventOf[noted]())
}

// TestAggregates_DecodeEveryTypeByTheSameRules runs every event type of the
// five aggregates through the registry's rules: the same null, empty,
// unknown-type and trailing-garbage handling everywhere.
func TestAggregates_DecodeEveryTypeByTheSameRules(t *testing.T) {
	for _, agg := range []struct {
		name   string
		events domain.Registry
		decode func(string, []byte) (domain.Event, error)
		count  int
	}{
		{"account", account.Events(), account.Decode, 30},
		{"location", location.Events(), location.Decode, 22},
		{"dailyupdate", dailyupdate.Events(), dailyupdate.Decode, 1},
		{"survey", survey.Events(), survey.Decode, 5},
		{"erasure", erasure.Events(), erasure.Decode, 1},
	} {
		t.Run(agg.name, func(t *testing.T) {
			types := agg.events.Types()
			if len(types) != agg.count {
				t.Errorf("%d event types, want %d: %v", len(types), agg.count, types)
			}
			if ev, err := agg.decode("NoSuchEvent", []byte(`{}`)); ev != nil || err != nil {
				t.Errorf("unknown type: %#v, %v; want nil, nil", ev, err)
			}
			for _, typ := range types {
				for _, data := range []string{``, `null`, `{}`} {
					ev, err := agg.decode(typ, []byte(data))
					if err != nil || ev == nil || ev.EventType() != typ || !reflect.ValueOf(ev).IsZero() {
						t.Errorf("Decode(%s, %q) = %#v, %v; want the zero %s", typ, data, ev, err, typ)
					}
				}
				for _, data := range []string{`{} x`, `{`, `[]`} {
					if ev, err := agg.decode(typ, []byte(data)); err == nil || !strings.Contains(err.Error(), typ) {
						t.Errorf("Decode(%s, %q) = %#v, %v; want an error naming the type", typ, data, ev, err)
					}
				}
			}
		})
	}
}
