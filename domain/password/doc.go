// Package password decides whether a person may use a password and turns
// passwords into hashes that are safe to store.
//
// Policy checks a candidate against the service's rules (length, the 10,000
// most common passwords, the person's own email and name, their recent
// passwords) and reports every broken rule at once as values a form can show.
// Hash, Verify and NeedsRehash store and check passwords with argon2id in the
// PHC string format.
//
// The package is pure: it reads no files, databases or clocks. Its only data is
// the common-password list compiled into the binary (see SOURCE.md), and the
// password history reaches it through a callback the caller supplies.
package password
