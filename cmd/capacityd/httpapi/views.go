package httpapi

import (
	"github.com/gorilla/mux"
	_ "github.com/xuri/excelize/v2"
)

// viewRoutes is the /api/v1 surface of the views over locations: search,
// the home care list, the provider dashboard, and their XLSX downloads.
func (s *Server) viewRoutes(api *mux.Router) {}
