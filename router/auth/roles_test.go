package auth

import (
	"testing"

	"github.com/streamhouse/streamhouse/registry"
)

func TestAllows(t *testing.T) {
	// The table of issue 7, row by row.
	want := map[registry.Role][]Action{
		registry.RoleViewer: {ActRead},
		registry.RoleMember: {ActRead, ActProduce, ActConsume, ActManageGroups},
		registry.RoleAdmin:  {ActRead, ActProduce, ActConsume, ActManageGroups, ActManageTopics, ActManageSchemas, ActManageKeys, ActReadAudit},
		registry.RoleOwner:  {ActRead, ActProduce, ActConsume, ActManageGroups, ActManageTopics, ActManageSchemas, ActManageKeys, ActReadAudit, ActManageMembers, ActManageBilling},
	}
	for role, allowed := range want {
		set := map[Action]bool{}
		for _, a := range allowed {
			set[a] = true
		}
		for a := range leastRole {
			if got := Allows(role, a); got != set[a] {
				t.Errorf("%s may %s: %v, want %v", role, a, got, set[a])
			}
		}
	}
	if Allows("root", ActRead) || Allows(registry.RoleOwner, "fly") || Allows("", ActRead) {
		t.Error("an unknown role or action is allowed")
	}
}
