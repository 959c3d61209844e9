package server

import "time"

// shanghai is the time zone of the tests' customers.
func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}

// bankB2B is a bank of the tests' registry that offers B2B payment.
const bankB2B = "104100000004"
