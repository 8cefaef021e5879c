package main

import (
	"fmt"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"

	shv1 "github.com/streamhouse/streamhouse/proto/streamhouse/v1"
)

type groupCmd struct {
	List     groupListCmd     `cmd:"" help:"List the consumer groups (HTTP API)."`
	Describe groupDescribeCmd `cmd:"" help:"Show a group's state, members and, per partition, committed offset and lag (HTTP API)."`
	Reset    groupResetCmd    `cmd:"" help:"Move a group's committed offsets; the group must have no active members (HTTP API)."`
	Delete   groupDeleteCmd   `cmd:"" help:"Delete a group's committed offsets; the group must have no active members (HTTP API)."`
	Offsets  groupOffsetsCmd  `cmd:"" help:"Show a consumer group's committed offsets (gRPC API)."`
	Commit   groupCommitCmd   `cmd:"" help:"Commit a consumer group's offset in one partition, the next offset it will read (gRPC API)."`
}

// groupOffset is a committed offset as -o json shows it.
type groupOffset struct {
	Topic       string    `json:"topic"`
	Partition   int32     `json:"partition"`
	Offset      int64     `json:"offset"`
	Metadata    string    `json:"metadata"`
	CommittedAt time.Time `json:"committed_at"`
}

type groupOffsetsCmd struct {
	Group string `arg:"" help:"Group name."`
	Topic string `short:"t" help:"Only this topic's offsets."`
}

func (c *groupOffsetsCmd) Run(a *app) error {
	svc, err := a.grpc.consumer()
	if err != nil {
		return err
	}
	ctx, cancel := a.grpc.callCtx(a.ctx, 0)
	defer cancel()
	resp, err := svc.FetchOffsets(ctx, &shv1.FetchOffsetsRequest{Group: c.Group, Topic: c.Topic})
	if err != nil {
		return a.grpc.grpcErr(err)
	}
	offs := make([]groupOffset, 0, len(resp.GetOffsets()))
	for _, o := range resp.GetOffsets() {
		offs = append(offs, groupOffset{Topic: o.GetTopic(), Partition: o.GetPartition(), Offset: o.GetOffset(),
			Metadata: o.GetMetadata(), CommittedAt: time.UnixMilli(o.GetCommittedAtMs()).UTC()})
	}
	if a.json {
		return writeJSON(a.env.stdout, struct {
			Group   string        `json:"group"`
			Offsets []groupOffset `json:"offsets"`
		}{c.Group, offs})
	}
	if len(offs) == 0 {
		_, err := fmt.Fprintf(a.env.stdout, "No committed offsets for group %q.\n", c.Group)
		return err
	}
	t := newTable(a.env.stdout)
	t.AppendHeader(table.Row{"Topic", "Partition", "Offset", "Committed", "Metadata"})
	for _, o := range offs {
		t.AppendRow(table.Row{o.Topic, itoa(int64(o.Partition)), itoa(o.Offset), o.CommittedAt.Format(time.RFC3339), o.Metadata})
	}
	t.Render()
	return nil
}

type groupCommitCmd struct {
	Group     string `arg:"" help:"Group name."`
	Topic     string `arg:"" help:"Topic name."`
	Partition int32  `arg:"" help:"Partition."`
	Offset    int64  `arg:"" help:"The next offset the group will read."`
	Metadata  string `help:"Free text stored with the offset (at most 4096 bytes)."`
}

func (c *groupCommitCmd) Run(a *app) error {
	if c.Partition < 0 || c.Offset < 0 {
		return usageErrorf("group commit: partition %d, offset %d: want 0 or more", c.Partition, c.Offset)
	}
	svc, err := a.grpc.consumer()
	if err != nil {
		return err
	}
	ctx, cancel := a.grpc.callCtx(a.ctx, 0)
	defer cancel()
	_, err = svc.CommitOffsets(ctx, &shv1.CommitOffsetsRequest{Group: c.Group, Offsets: []*shv1.PartitionOffset{
		{Topic: c.Topic, Partition: c.Partition, Offset: c.Offset, Metadata: c.Metadata},
	}})
	if err != nil {
		return a.grpc.grpcErr(err)
	}
	if a.json {
		return writeJSON(a.env.stdout, map[string]any{"group": c.Group, "topic": c.Topic, "partition": c.Partition, "offset": c.Offset})
	}
	_, err = fmt.Fprintf(a.env.stdout, "group %q committed offset %d in %s partition %d\n", c.Group, c.Offset, c.Topic, c.Partition)
	return err
}
