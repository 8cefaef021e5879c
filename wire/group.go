package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tag bytes of the consumer group messages; they continue the table in
// produce.go and fetch.go. ONLY ADD TO THE END.
const (
	tagGroupRequest  byte = 0x06
	tagGroupResponse byte = 0x07
)

// Group messages travel on sh.<cell>.group.<tenant id>.<group key>,
// request/reply to the group's coordinator (the group key is a hash of the
// group's name: names never appear in subjects). Their encoding (see the
// package doc; ONLY ADD TO THE END of a group or a message):
//
//	GroupRequest  = 0x06 uvarint(len) { uvarint op, varint tenant_id, string group,
//	                                    string member_id, string client_id, varint generation,
//	                                    varint session_timeout_ms, string strategy }
//	                     uvarint(count) varint topic_id*
//	                     uvarint(count) offset*
//	GroupResponse = 0x07 uvarint(len) { uvarint code, string message, string member_id,
//	                                    varint generation, string strategy,
//	                                    varint session_timeout_ms,
//	                                    string state, uvarint(count) member* }
//	                     uvarint(count) (varint topic_id, varint partition)*
//
//	member = uvarint(len) { string member_id, string client_id, varint session_timeout_ms,
//	                        uvarint(count) (varint topic_id, varint partition)* }
//	offset = uvarint(len) { varint topic_id, varint partition, varint offset, string metadata }
//
// Which fields an op reads: join the member id (empty on a first join),
// client id, session timeout (0: the group's default), strategy ("": the
// group's) and topics; heartbeat and assignment the member id and
// generation; leave the member id; commit the member id, generation and
// offsets. A join's answer carries the member id, generation, strategy,
// session timeout and assignment; a heartbeat's the group's generation
// (with RebalanceInProgress when it moved on); an assignment's the
// assignment. Errors are Codes: RebalanceInProgress, IllegalGeneration,
// UnknownMember, NotOwner (another agent coordinates the group, or the
// coordinator is moving: retry), Invalid, NotFound.
//
// The admin ops: describe reads nothing but the group and answers with the
// generation, strategy, state and members (each with its assignment);
// reset writes the request's offsets as the group's committed offsets, and
// delete removes all its committed offsets, both only while the group has
// no member (else Busy, with the members in the answer as for describe).

// GroupOp is what a GroupRequest asks of the coordinator. The numbers
// travel on the wire: ONLY ADD TO THE END.
type GroupOp uint8

// The group operations.
const (
	GroupJoin GroupOp = iota + 1
	GroupHeartbeat
	GroupLeave
	GroupAssignment
	GroupCommit
	GroupDescribe
	GroupReset
	GroupDelete
)

var groupOpNames = [...]string{GroupJoin: "join", GroupHeartbeat: "heartbeat", GroupLeave: "leave",
	GroupAssignment: "assignment", GroupCommit: "commit", GroupDescribe: "describe", GroupReset: "reset",
	GroupDelete: "delete"}

func (o GroupOp) String() string {
	if o >= GroupJoin && int(o) < len(groupOpNames) {
		return groupOpNames[o]
	}
	return fmt.Sprintf("op_%d", o)
}

// GroupPartition is one partition of a group's assignment.
type GroupPartition struct {
	TopicID   int64
	Partition int32
}

// GroupOffset is a committed position: the next offset the group will read.
type GroupOffset struct {
	TopicID   int64
	Partition int32
	Offset    int64
	Metadata  string
}

// GroupRequest is one request to a consumer group's coordinator.
type GroupRequest struct {
	Op       GroupOp
	TenantID int64
	// Group is the group's name (the coordinator checks it against the key
	// the subject carries).
	Group            string
	MemberID         string
	ClientID         string
	Generation       int32
	SessionTimeoutMs int64
	Strategy         string
	Topics           []int64
	Offsets          []GroupOffset
}

// GroupResponse is the coordinator's answer to a GroupRequest.
type GroupResponse struct {
	Code             Code
	Message          string
	MemberID         string
	Generation       int32
	Strategy         string
	SessionTimeoutMs int64
	Assignment       []GroupPartition
	// State and Members answer a describe (and a refused reset or delete).
	State   string
	Members []GroupMemberInfo
}

// GroupMemberInfo is one member of a group, as describe reports it.
type GroupMemberInfo struct {
	MemberID         string
	ClientID         string
	SessionTimeoutMs int64
	Assignment       []GroupPartition
}

// Err returns nil if the response is OK, else an *Error with its code and
// message.
func (r *GroupResponse) Err() error {
	if r.Code == OK {
		return nil
	}
	return &Error{Code: r.Code, Message: r.Message}
}

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendBinary appends the request's encoding to dst
// (encoding.BinaryAppender). It never fails.
func (r *GroupRequest) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, tagGroupRequest)
	n := uvarintLen(uint64(r.Op)) + varintLen(r.TenantID) + strLen(r.Group) + strLen(r.MemberID) +
		strLen(r.ClientID) + varintLen(int64(r.Generation)) + varintLen(r.SessionTimeoutMs) + strLen(r.Strategy)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(r.Op))
	dst = binary.AppendVarint(dst, r.TenantID)
	dst = appendStr(dst, r.Group)
	dst = appendStr(dst, r.MemberID)
	dst = appendStr(dst, r.ClientID)
	dst = binary.AppendVarint(dst, int64(r.Generation))
	dst = binary.AppendVarint(dst, r.SessionTimeoutMs)
	dst = appendStr(dst, r.Strategy)
	dst = binary.AppendUvarint(dst, uint64(len(r.Topics)))
	for _, t := range r.Topics {
		dst = binary.AppendVarint(dst, t)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Offsets)))
	for _, o := range r.Offsets {
		n := varintLen(o.TopicID) + varintLen(int64(o.Partition)) + varintLen(o.Offset) + strLen(o.Metadata)
		dst = binary.AppendUvarint(dst, uint64(n))
		dst = binary.AppendVarint(dst, o.TopicID)
		dst = binary.AppendVarint(dst, int64(o.Partition))
		dst = binary.AppendVarint(dst, o.Offset)
		dst = appendStr(dst, o.Metadata)
	}
	return dst, nil
}

// Decode sets r from the encoding in b; nothing aliases b. Errors wrap
// ErrMalformed.
func (r *GroupRequest) Decode(b []byte) error {
	d := decoder{b: b, what: "group request"}
	d.tag(tagGroupRequest)
	g := d.group("header")
	r.Op = GroupOp(g.uvarintMax("op", math.MaxUint8))
	r.TenantID = g.varint("tenant id")
	r.Group = string(g.str("group"))
	r.MemberID = string(g.str("member id"))
	r.ClientID = string(g.str("client id"))
	r.Generation = int32(g.varintIn("generation", math.MinInt32, math.MaxInt32))
	r.SessionTimeoutMs = g.varint("session timeout ms")
	r.Strategy = string(g.str("strategy"))
	if d.err == nil && g.err != nil {
		d.err = g.err
	}
	r.Topics = r.Topics[:0]
	nt := d.uvarint("topic count")
	if d.err == nil && nt > uint64(d.left()) { // a topic id takes at least one byte
		d.fail("topic count", fmt.Sprintf("%d topics cannot fit in %d bytes", nt, d.left()))
	}
	for i := uint64(0); d.err == nil && i < nt; i++ {
		r.Topics = append(r.Topics, d.varint("topic id"))
	}
	r.Offsets = r.Offsets[:0]
	no := d.uvarint("offset count")
	if d.err == nil && no > uint64(d.left()) { // an offset takes at least one byte
		d.fail("offset count", fmt.Sprintf("%d offsets cannot fit in %d bytes", no, d.left()))
	}
	for i := uint64(0); d.err == nil && i < no; i++ {
		g := d.group("offset")
		var o GroupOffset
		o.TopicID = g.varint("topic id")
		o.Partition = int32(g.varintIn("partition", math.MinInt32, math.MaxInt32))
		o.Offset = g.varint("offset")
		o.Metadata = string(g.str("metadata"))
		if g.err != nil {
			d.err = g.err
		}
		r.Offsets = append(r.Offsets, o)
	}
	return d.err
}

func memberLen(m GroupMemberInfo) int {
	n := strLen(m.MemberID) + strLen(m.ClientID) + varintLen(m.SessionTimeoutMs) + uvarintLen(uint64(len(m.Assignment)))
	for _, p := range m.Assignment {
		n += varintLen(p.TopicID) + varintLen(int64(p.Partition))
	}
	return n
}

// AppendBinary appends the response's encoding to dst
// (encoding.BinaryAppender). It never fails.
func (r *GroupResponse) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, tagGroupResponse)
	n := uvarintLen(uint64(r.Code)) + strLen(r.Message) + strLen(r.MemberID) +
		varintLen(int64(r.Generation)) + strLen(r.Strategy) + varintLen(r.SessionTimeoutMs) +
		strLen(r.State) + uvarintLen(uint64(len(r.Members)))
	for _, m := range r.Members {
		mn := memberLen(m)
		n += uvarintLen(uint64(mn)) + mn
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(r.Code))
	dst = appendStr(dst, r.Message)
	dst = appendStr(dst, r.MemberID)
	dst = binary.AppendVarint(dst, int64(r.Generation))
	dst = appendStr(dst, r.Strategy)
	dst = binary.AppendVarint(dst, r.SessionTimeoutMs)
	dst = appendStr(dst, r.State)
	dst = binary.AppendUvarint(dst, uint64(len(r.Members)))
	for _, m := range r.Members {
		dst = binary.AppendUvarint(dst, uint64(memberLen(m)))
		dst = appendStr(dst, m.MemberID)
		dst = appendStr(dst, m.ClientID)
		dst = binary.AppendVarint(dst, m.SessionTimeoutMs)
		dst = binary.AppendUvarint(dst, uint64(len(m.Assignment)))
		for _, p := range m.Assignment {
			dst = binary.AppendVarint(dst, p.TopicID)
			dst = binary.AppendVarint(dst, int64(p.Partition))
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Assignment)))
	for _, p := range r.Assignment {
		dst = binary.AppendVarint(dst, p.TopicID)
		dst = binary.AppendVarint(dst, int64(p.Partition))
	}
	return dst, nil
}

// Decode sets r from the encoding in b; nothing aliases b. Errors wrap
// ErrMalformed.
func (r *GroupResponse) Decode(b []byte) error {
	d := decoder{b: b, what: "group response"}
	d.tag(tagGroupResponse)
	g := d.group("response")
	r.Code = Code(g.uvarintMax("code", math.MaxUint16))
	r.Message = string(g.str("message"))
	r.MemberID = string(g.str("member id"))
	r.Generation = int32(g.varintIn("generation", math.MinInt32, math.MaxInt32))
	r.Strategy = string(g.str("strategy"))
	r.SessionTimeoutMs = g.varint("session timeout ms")
	r.State, r.Members = "", r.Members[:0]
	if g.err == nil && g.left() > 0 { // absent in an older agent's answer
		r.State = string(g.str("state"))
		nm := g.uvarint("member count")
		if g.err == nil && nm > uint64(g.left()) { // a member takes at least one byte
			g.fail("member count", fmt.Sprintf("%d members cannot fit in %d bytes", nm, g.left()))
		}
		for i := uint64(0); g.err == nil && i < nm; i++ {
			r.Members = append(r.Members, decodeMember(&g))
		}
	}
	if d.err == nil && g.err != nil {
		d.err = g.err
	}
	r.Assignment = r.Assignment[:0]
	n := d.uvarint("partition count")
	if d.err == nil && n > uint64(d.left()/2) { // a partition takes at least two bytes
		d.fail("partition count", fmt.Sprintf("%d partitions cannot fit in %d bytes", n, d.left()))
	}
	for i := uint64(0); d.err == nil && i < n; i++ {
		var p GroupPartition
		p.TopicID = d.varint("topic id")
		p.Partition = int32(d.varintIn("partition", math.MinInt32, math.MaxInt32))
		r.Assignment = append(r.Assignment, p)
	}
	return d.err
}

func decodeMember(d *decoder) GroupMemberInfo {
	g := d.group("member")
	var m GroupMemberInfo
	m.MemberID = string(g.str("member id"))
	m.ClientID = string(g.str("client id"))
	m.SessionTimeoutMs = g.varint("session timeout ms")
	np := g.uvarint("partition count")
	if g.err == nil && np > uint64(g.left()/2) { // a partition takes at least two bytes
		g.fail("partition count", fmt.Sprintf("%d partitions cannot fit in %d bytes", np, g.left()))
	}
	for j := uint64(0); g.err == nil && j < np; j++ {
		var p GroupPartition
		p.TopicID = g.varint("topic id")
		p.Partition = int32(g.varintIn("partition", math.MinInt32, math.MaxInt32))
		m.Assignment = append(m.Assignment, p)
	}
	if d.err == nil && g.err != nil {
		d.err = g.err
	}
	return m
}
