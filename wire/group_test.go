package wire

import (
	"errors"
	"reflect"
	"testing"
)

func sampleGroupRequest() *GroupRequest {
	return &GroupRequest{Op: GroupCommit, TenantID: 7, Group: "orders.consumers", MemberID: "c-ABC", ClientID: "c",
		Generation: 3, SessionTimeoutMs: 10000, Strategy: "sticky", Topics: []int64{42, 43},
		Offsets: []GroupOffset{{TopicID: 42, Partition: 1, Offset: 100, Metadata: "m"}, {TopicID: 43, Partition: 0, Offset: 0}}}
}

func sampleGroupResponse() *GroupResponse {
	return &GroupResponse{Code: RebalanceInProgress, Message: "moved", MemberID: "c-ABC", Generation: 4, Strategy: "range",
		SessionTimeoutMs: 45000, Assignment: []GroupPartition{{42, 0}, {42, 2}, {43, 1}}}
}

func TestGroupRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []*GroupRequest{sampleGroupRequest(), {Op: GroupJoin, TenantID: 1, Group: "g"}} {
		b, _ := in.AppendBinary(nil)
		var out GroupRequest
		if err := out.Decode(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, &out) {
			t.Fatalf("request round trip:\n%#v\n%#v", in, &out)
		}
	}
	for _, in := range []*GroupResponse{sampleGroupResponse(), {MemberID: "m", Generation: 1}} {
		b, _ := in.AppendBinary(nil)
		var out GroupResponse
		if err := out.Decode(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in, &out) {
			t.Fatalf("response round trip:\n%#v\n%#v", in, &out)
		}
		if (out.Code == OK) != (out.Err() == nil) {
			t.Fatalf("Err of code %s: %v", out.Code, out.Err())
		}
	}
}

func TestGroupDecodeMalformed(t *testing.T) {
	t.Parallel()
	req, _ := sampleGroupRequest().AppendBinary(nil)
	resp, _ := sampleGroupResponse().AppendBinary(nil)
	for i := range len(req) - 1 {
		var r GroupRequest
		if err := r.Decode(req[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("request cut at %d: %v", i, err)
		}
	}
	for i := range len(resp) - 1 {
		var r GroupResponse
		if err := r.Decode(resp[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("response cut at %d: %v", i, err)
		}
	}
	var r GroupRequest
	if err := r.Decode(resp); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong tag: %v", err)
	}
}

// TestGroupForwardCompatible: a newer writer's extra field at the end of
// the header group and bytes after the last section are skipped.
func TestGroupForwardCompatible(t *testing.T) {
	t.Parallel()
	in := &GroupResponse{Code: OK, MemberID: "m", Generation: 2}
	b, _ := in.AppendBinary(nil)
	// Grow the header group by one byte (its length is b[1], one byte here).
	newer := append([]byte{b[0], b[1] + 1}, b[2:2+int(b[1])]...)
	newer = append(newer, 0x05)
	newer = append(newer, b[2+int(b[1]):]...)
	newer = append(newer, 0xff, 0x01)
	var out GroupResponse
	if err := out.Decode(newer); err != nil {
		t.Fatal(err)
	}
	if out.MemberID != "m" || out.Generation != 2 || len(out.Assignment) != 0 {
		t.Fatalf("decoded %#v", out)
	}
}

func FuzzDecodeGroupRequest(f *testing.F) {
	good, _ := sampleGroupRequest().AppendBinary(nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{tagGroupRequest, 0x00, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r GroupRequest
		if err := r.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 GroupRequest
		if err := r2.Decode(again); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", r, r2)
		}
	})
}

func FuzzDecodeGroupResponse(f *testing.F) {
	good, _ := sampleGroupResponse().AppendBinary(nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{tagGroupResponse, 0x00, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r GroupResponse
		if err := r.Decode(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, _ := r.AppendBinary(nil)
		var r2 GroupResponse
		if err := r2.Decode(again); err != nil {
			t.Fatalf("re-encoded response does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the response:\n%#v\n%#v", r, r2)
		}
	})
}

func TestGroupDescribeRoundTrip(t *testing.T) {
	t.Parallel()
	in := &GroupResponse{Code: OK, Generation: 3, Strategy: "range", State: "Stable", Members: []GroupMemberInfo{
		{MemberID: "a-1", ClientID: "a", SessionTimeoutMs: 45000, Assignment: []GroupPartition{{42, 0}, {42, 1}}},
		{MemberID: "b-1", ClientID: "b", SessionTimeoutMs: 6000},
	}}
	b, _ := in.AppendBinary(nil)
	var out GroupResponse
	if err := out.Decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("describe round trip:\n%#v\n%#v", in, &out)
	}
	for i := range len(b) - 1 {
		var r GroupResponse
		if err := r.Decode(b[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("describe cut at %d: %v", i, err)
		}
	}
}
