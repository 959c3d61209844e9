package server

import (
	"time"

	"github.com/b2bpay/b2bpay/admin"
)

// Administration is the administration use case of customers'
// administrators (users, roles, limits, tiers with dual control; OTP
// enrolment) over the store, on the wall clock, enrolling OTP secrets with
// EnrollOTP (the master key is needed only for that).
func (a *App) Administration() *admin.Service {
	return admin.New(a.Store, time.Now, a.EnrollOTP)
}
