package cells

import (
	"strconv"

	"github.com/streamhouse/streamhouse/partition"
)

// The cell's NATS subjects and buckets, built in one place (DESIGN.md, NATS
// subjects and buckets). Tokens are ids, never names, so that a dot in a name
// cannot split a subject. Subjects and bucket names are a wire format:
// append-only, never reinterpreted. The cell name must be valid
// (ValidateCellName); the WAL's subjects live with the WAL (wal.go), the
// lease bucket with the leases (names.go).

// ProduceSubject is the request/reply subject of a partition's owner for
// produce requests: sh.<cell>.produce.<tenant id>.<topic id>.<partition>.
func ProduceSubject(cell string, id partition.ID) string {
	return partitionSubject(cell, "produce", id)
}

// FetchSubject is the request/reply subject of a partition's owner for tail
// reads: sh.<cell>.fetch.<tenant id>.<topic id>.<partition>.
func FetchSubject(cell string, id partition.ID) string {
	return partitionSubject(cell, "fetch", id)
}

// EventsSubjects is the wildcard of the cell's events (metrics, lag, agent
// events) for the dashboard gateway: sh.<cell>.events.>.
func EventsSubjects(cell string) string { return eventsPrefix(cell) + ">" }

// AgentEventSubject is the subject an agent publishes its own events on:
// sh.<cell>.events.agent.<agent id>. An agent id is one token (see
// AgentConfig.AgentID).
func AgentEventSubject(cell, agent string) string {
	return eventsPrefix(cell) + "agent." + agent
}

// TopicEventsSubject is where a router announces that a topic was created
// or deleted (the body is the topic id), so agents in other processes look
// at the registry at once instead of at their next periodic rebalance. A
// lost message only delays that: the periodic look still finds the change.
func TopicEventsSubject(cell string) string { return eventsPrefix(cell) + "topics" }

// AgentsBucket names the cell's heartbeat bucket, sh_<cell>_agents: key the
// agent id, present while the agent is alive.
func AgentsBucket(cell string) string { return "sh_" + cell + "_agents" }

func eventsPrefix(cell string) string { return "sh." + cell + ".events." }

func partitionSubject(cell, kind string, id partition.ID) string {
	b := make([]byte, 0, len(cell)+len(kind)+48)
	b = append(b, "sh."...)
	b = append(b, cell...)
	b = append(b, '.')
	b = append(b, kind...)
	b = append(b, '.')
	b = strconv.AppendInt(b, id.Tenant, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, id.Topic, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(id.Partition), 10)
	return string(b)
}
