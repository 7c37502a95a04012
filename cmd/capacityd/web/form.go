package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/capacitytracker/capacity/domain"
)

// form is a submitted form: the values typed (sent back after an error,
// passwords excepted) and the errors, in the order the fields appear.
type form struct {
	Values map[string]string
	Errors []domain.FieldError
}

func newForm() *form { return &form{Values: map[string]string{}} }

// Value is what was typed in a field.
func (f *form) Value(name string) string { return f.Values[name] }

// HasErrors tells the layout to prefix the title with "Error: ".
func (f *form) HasErrors() bool { return len(f.Errors) > 0 }

// ErrorsFor are the messages of one field.
func (f *form) ErrorsFor(field string) []string {
	var out []string
	for _, e := range f.Errors {
		if e.Field == field {
			out = append(out, e.Message)
		}
	}
	return out
}

// add records an error on a field.
func (f *form) add(field, code, message string) {
	f.Errors = append(f.Errors, domain.FieldError{Field: field, Code: code, Message: message})
}

// addValidation takes the field errors of a command's answer; fields are
// renamed where the form's differ from the command's. It reports whether
// err was a validation error.
func (f *form) addValidation(err error, rename map[string]string) bool {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return false
	}
	for _, fe := range v.Fields {
		if n, ok := rename[fe.Field]; ok {
			fe.Field = n
		}
		f.Errors = append(f.Errors, fe)
	}
	return true
}

// order sorts the errors by the fields' order on the page, so that the
// summary reads like the form.
func (f *form) order(fields ...string) {
	var out []domain.FieldError
	for _, name := range fields {
		for _, e := range f.Errors {
			if e.Field == name {
				out = append(out, e)
			}
		}
	}
	for _, e := range f.Errors {
		found := false
		for _, name := range fields {
			found = found || e.Field == name
		}
		if !found {
			out = append(out, e)
		}
	}
	f.Errors = out
}

// parseForm reads a posted form; a body over the limit is errTooLarge.
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return errBadForm
	}
	return nil
}

var (
	errTooLarge = errors.New("form body too large")
	errBadForm  = errors.New("form body not readable")
)

// inputField is the data of the input partial.
type inputField struct {
	Name         string
	Label        string
	Type         string
	Autocomplete string
	Hint         string
	Value        string
	Errors       []string
}

// inputFieldOf is the templates' input function: an input's data from the
// form (what was typed, never a password, and the field's errors).
func inputFieldOf(f *form, name, label, typ, autocomplete string, hint ...string) inputField {
	in := inputField{Name: name, Label: label, Type: typ, Autocomplete: autocomplete, Errors: f.ErrorsFor(name)}
	if typ != "password" {
		in.Value = f.Value(name)
	}
	if len(hint) > 0 {
		in.Hint = strings.Join(hint, " ")
	}
	return in
}
