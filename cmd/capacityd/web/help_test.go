package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestWeb_HelpSaysWhatIsNew(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *site) {
		p := s.client().get("/help").wantPage(t, http.StatusOK, "Help")
		for _, want := range []string{"<h2>What's new</h2>", "My Access:", "Users with access:"} {
			if !strings.Contains(p.Body, want) {
				t.Errorf("Help does not say %q", want)
			}
		}
	})
}
