package httpapi

import "github.com/gorilla/mux"

// locationRoutes is the /api/v1 surface of provider details: the Edit
// Provider and Care Quality pages.
func (s *Server) locationRoutes(api *mux.Router) {}
