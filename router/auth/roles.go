package auth

import "github.com/streamhouse/streamhouse/registry"

// Action is something a request does, for the permission check.
type Action string

// The actions, by the least role that may do them (issue 7: viewers read;
// members produce, consume and manage groups; admins manage topics, schemas
// and keys; owners manage members and billing).
const (
	ActRead          Action = "read"
	ActProduce       Action = "produce"
	ActConsume       Action = "consume"
	ActManageGroups  Action = "manage-groups"
	ActManageTopics  Action = "manage-topics"
	ActManageSchemas Action = "manage-schemas"
	ActManageKeys    Action = "manage-keys"
	ActReadAudit     Action = "read-audit"
	ActManageMembers Action = "manage-members"
	ActManageBilling Action = "manage-billing"
)

var leastRole = map[Action]registry.Role{
	ActRead:          registry.RoleViewer,
	ActProduce:       registry.RoleMember,
	ActConsume:       registry.RoleMember,
	ActManageGroups:  registry.RoleMember,
	ActManageTopics:  registry.RoleAdmin,
	ActManageSchemas: registry.RoleAdmin,
	ActManageKeys:    registry.RoleAdmin,
	ActReadAudit:     registry.RoleAdmin,
	ActManageMembers: registry.RoleOwner,
	ActManageBilling: registry.RoleOwner,
}

// Allows reports whether role r may do a. An unknown role or action is
// refused.
func Allows(r registry.Role, a Action) bool {
	least, ok := leastRole[a]
	return ok && r.AtLeast(least)
}
