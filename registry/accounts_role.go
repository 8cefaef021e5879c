package registry

// Role is a member's or an API key's rank within a tenant. Each includes the
// rights of those below it: viewers read; members produce, consume and
// manage groups; admins manage topics, schemas and keys; owners manage
// members and billing.
type Role string

const (
	RoleViewer Role = "viewer"
	RoleMember Role = "member"
	RoleAdmin  Role = "admin"
	RoleOwner  Role = "owner"
)

// rank orders the roles; an unknown role ranks 0, below all.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleMember:
		return 2
	case RoleAdmin:
		return 3
	case RoleOwner:
		return 4
	}
	return 0
}

// AtLeast reports whether r grants everything min does. An unknown role
// grants nothing, and nothing is at least an unknown role.
func (r Role) AtLeast(min Role) bool {
	return r.rank() > 0 && min.rank() > 0 && r.rank() >= min.rank()
}

// ParseRole returns s as a Role, or ErrInvalid naming the valid ones.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", &ValidationError{Field: "role", Value: shorten(s), Reason: "must be owner, admin, member or viewer"}
	}
	return r, nil
}
