package httpapi

import "github.com/gorilla/mux"

// analyticsRoutes is a placeholder until the feature lands.
func (s *Server) analyticsRoutes(api *mux.Router) {}
