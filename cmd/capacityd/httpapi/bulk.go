package httpapi

import "github.com/gorilla/mux"

// bulkRoutes is a placeholder until the feature lands.
func (s *Server) bulkRoutes(api *mux.Router) {}
