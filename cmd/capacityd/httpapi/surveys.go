package httpapi

import "github.com/gorilla/mux"

// surveyRoutes is a placeholder until the feature lands.
func (s *Server) surveyRoutes(api *mux.Router) {}
