package projections

// SurveyProjections are the read models of surveys.
func SurveyProjections() []Projection { return nil }
