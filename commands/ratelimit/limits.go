package ratelimit

import "time"

// Kinds of request, the first part of every counter's scope.
const (
	SignIn        = "sign-in"
	Registration  = "registration"
	PasswordReset = "password-reset"
	PasswordLink  = "password-link"
	Upload        = "upload"
)

// Limits are the policies of every limited kind of request.
type Limits struct {
	SignIn        Policy
	Registration  Policy
	PasswordReset Policy
	PasswordLink  Policy
	Upload        Policy
}

// DefaultLimits are capacityd's limits (the README's Configuration table
// says why each is what it is). Sign-in from one address: 10 a minute and
// 50 a day, so that with 5 wrong passwords locking an account one address
// can lock at most 10 accounts a day, and 2 in any minute.
func DefaultLimits() Limits {
	const (
		minute = time.Minute
		hour   = time.Hour
		day    = 24 * time.Hour
	)
	return Limits{
		SignIn: Policy{
			{Address, 10, minute}, {Address, 50, day},
			{Account, 10, 15 * minute},
		},
		Registration: Policy{
			{Address, 5, hour}, {Address, 20, day},
			{Account, 3, day},
		},
		PasswordReset: Policy{
			{Address, 10, hour},
			{Account, 3, hour},
		},
		PasswordLink: Policy{
			{Address, 10, 15 * minute},
			{Account, 5, 15 * minute},
		},
		Upload: Policy{
			{Address, 60, hour},
			{Account, 20, hour},
		},
	}
}
