package web

import (
	"net/http"

	"github.com/capacitytracker/capacity/cmd/capacityd/httpapi"
)

// tile is one card of the Main Menu.
type tile struct {
	Title       string
	Href        string
	Description string
}

// homeNotices are the banners after a redirect to the Main Menu.
func homeNotice(key string) string {
	if key == "password-changed" {
		return "Your password has been changed."
	}
	return ""
}

// showHome is the Main Menu: a tile for each thing this person may do
// whose page exists (later pages add theirs here, by the person's roles).
func (h *Handler) showHome(w http.ResponseWriter, r *http.Request, s *session) {
	var tiles []tile
	if mayListHomeCare(httpapi.Viewer(s.actor)) {
		tiles = append(tiles, tile{Title: "Home Care Providers", Href: "/home-care", Description: "Manage your home care providers: their details, COVID-19 daily updates and care quality."})
	}
	tiles = append(tiles, tile{Title: "Find Providers", Href: "/find-providers", Description: "Search the providers: their public contacts, notes, ratings and last update."})
	if mayApprove(httpapi.Viewer(s.actor)) {
		tiles = append(tiles, tile{Title: "Approve/Reject Users", Href: "/approvals", Description: "Decide the requests for access to your organisation's locations."})
	}
	if mayBulkUpdate(s.actor) {
		tiles = append(tiles, tile{Title: "Bulk Updates", Href: bulkPath,
			Description: "Business Continuity & Vacancy Update: update many locations at once from a spreadsheet."})
	}
	tiles = append(tiles,
		tile{Title: "My Details", Href: "/my-details", Description: "Your details, communications choice and API tokens."},
	)
	if httpapi.Viewer(s.actor).Support {
		tiles = append(tiles, tile{Title: "Support", Href: "/support", Description: "The central approval queue, generic accounts and the auditor role."})
	}
	if mayRequestAccess(s.actor.User) {
		tiles = append(tiles, tile{Title: "My Access", Href: "/my-access", Description: "Request access to more locations, and see your pending requests."})
	}
	tiles = append(tiles,
		tile{Title: "Change your password", Href: "/change-password", Description: "Choose a new password for your account."},
		tile{Title: "Help", Href: "/help", Description: "Contacts of the Support Centre, hints and tips."},
	)
	h.render(w, r, http.StatusOK, "home", view{Title: "Main Menu", User: s.user(), CSRF: s.csrf(),
		Notice: homeNotice(r.URL.Query().Get("done")), Data: map[string]any{"Tiles": tiles}})
}
