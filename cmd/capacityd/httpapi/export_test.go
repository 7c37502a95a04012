package httpapi

import "github.com/gorilla/mux"

// Router is the server's router, for the black-box tests that walk every
// route.
func (s *Server) Router() *mux.Router { return s.router }
