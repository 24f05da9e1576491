package xenstore

import (
	"context"
	"errors"
)

// Stats counts what a client sent since it was made.
type Stats struct {
	Requests uint64 // requests written (watch re-registrations included)
	Flights  uint64 // writes of one or more requests, each then waiting for its replies: round trips
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// ReadWithPerms reads path's value and its permission list in one round
// trip: READ and GET_PERMS leave in one write, before either reply is
// read, and the replies are matched by request id. The two answers come
// from consecutive requests of the same connection; a caller that must
// not trust a value whose node a guest could write checks perms first.
func (c *Client) ReadWithPerms(ctx context.Context, path string) ([]byte, Perms, error) {
	if err := checkPath(TypeRead, path); err != nil {
		return nil, nil, err
	}
	arg := JoinStrings(path)
	calls := []call{{typ: TypeRead, path: path, payload: arg}, {typ: TypeGetPerms, path: path, payload: arg}}
	for {
		cn, err := c.current(ctx)
		if err != nil {
			return nil, nil, err
		}
		ms, err := c.pipeline(ctx, cn, calls)
		var ns *notSent
		if errors.As(err, &ns) && !c.opts.noReconnect {
			continue // the connection died before we sent: wait for the next
		}
		if err != nil {
			return nil, nil, err
		}
		ps, err := parsePerms(path, ms[1].Payload)
		if err != nil {
			return nil, nil, err
		}
		return ms[0].Payload, ps, nil
	}
}
