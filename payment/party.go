package payment

import (
	"regexp"
	"slices"
	"time"
)

// Customer is an enterprise that pays through b2bpay.
type Customer struct {
	ID   string
	Name string
	// OnlinePayment is the seed's eligibility flag: online payment is
	// offered only to some customers.
	OnlinePayment bool
	Active        bool
	CreatedAt     time.Time
}

// Account is a customer's account at a bank, the debtor side of a payment.
type Account struct {
	Number     string
	BankID     string
	CustomerID string
	Currency   string
	Active     bool
}

// Bank is a paying bank in the registry. Only banks with B2B enabled can be
// chosen for online payment.
type Bank struct {
	ID   string // 12-digit CNAPS code or a BIC
	Name string
	B2B  bool
}

// Role is what a person may do: a part in the approval flow, or the
// administration of a customer, or the bank's operations.
type Role string

// The three roles of the approval flow (the seed's), and two that decide
// no payment: RoleOperator (the bank's operations staff: cutoffs, batches,
// dead letters) and RoleAdmin (a customer's administrator: users, roles,
// limits, tiers, OTP enrolment, each change approved by a second admin).
// Only ApprovalRoles name a stage's role (Stage.Role).
const (
	RoleApplicant  Role = "applicant"
	RoleReviewer   Role = "reviewer"
	RoleAuthorizer Role = "authorizer"
	RoleOperator   Role = "operator"
	RoleAdmin      Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleApplicant, RoleReviewer, RoleAuthorizer, RoleOperator, RoleAdmin}

// ApprovalRoles lists the roles of the approval flow's stages.
var ApprovalRoles = []Role{RoleApplicant, RoleReviewer, RoleAuthorizer}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// User is a person of a customer who takes part in the approval flow.
type User struct {
	ID         string // login name
	CustomerID string
	Name       string
	Roles      []Role
	Active     bool
}

// Has reports whether u holds role r.
func (u User) Has(r Role) bool { return slices.Contains(u.Roles, r) }

// Upstream is a business system that publishes payment requests. It is
// identified by its RabbitMQ user (the broker validates the user_id
// property) or by an HMAC over the message body made with its key.
type Upstream struct {
	ID       string
	Name     string
	AMQPUser string
	Active   bool
	// Customers are the customers this upstream may submit for.
	Customers []string
}

// Serves reports whether the upstream may submit for customer id.
func (u Upstream) Serves(customerID string) bool { return slices.Contains(u.Customers, customerID) }

var (
	idPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	upstreamPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	accountPattern  = regexp.MustCompile(`^[A-Za-z0-9]{1,34}$`)
	cnapsPattern    = regexp.MustCompile(`^[0-9]{12}$`)
	bicPattern      = regexp.MustCompile(`^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
)

// ValidID checks an identifier used as a key (customer, user, upstream,
// request id): 1-64 characters, letters, digits and . _ : -, starting with a
// letter or digit.
func ValidID(field, s string) error {
	if !idPattern.MatchString(s) {
		return FieldErrorf(CodeInvalidField, field, "%q must be 1-64 letters, digits or . _ : - starting with a letter or digit", Clip(s, 70))
	}
	return nil
}

// ValidUpstreamID checks an upstream system's id: 1-64 letters, digits, _
// and -, starting with a letter or digit. An upstream id is a word of the
// routing keys (payment.<upstream>.<kind>) and the name of its status queue
// (b2bpay.status.<upstream>), so it may hold none of the characters the
// broker gives a meaning to: no '.' (one upstream's id would be a prefix of
// another's keys, erp of erp.sh), no '*' or '#' (topic wildcards), nothing
// a permission regular expression reads as an operator.
func ValidUpstreamID(field, s string) error {
	if !upstreamPattern.MatchString(s) {
		return FieldErrorf(CodeInvalidField, field, "%q must be 1-64 letters, digits, _ or - starting with a letter or digit (no '.', '*' or '#': it names routing keys and queues)", Clip(s, 70))
	}
	return nil
}

// ValidAccountNumber checks an account number: 1-34 letters and digits (the
// IBAN limit; domestic numbers are shorter).
func ValidAccountNumber(field, s string) error {
	if !accountPattern.MatchString(s) {
		return FieldErrorf(CodeInvalidAccount, field, "%q must be 1-34 letters and digits", Clip(s, 40))
	}
	return nil
}

// ValidBankID checks a bank identifier: a 12-digit CNAPS code or a BIC.
func ValidBankID(field, s string) error {
	if !cnapsPattern.MatchString(s) && !bicPattern.MatchString(s) {
		return FieldErrorf(CodeInvalidField, field, "%q is neither a 12-digit CNAPS code nor a BIC", Clip(s, 40))
	}
	return nil
}
